"""One blueprint per resource."""

from api.resources.actions import blp as actions
from api.resources.agreements import blp as agreements
from api.resources.audit import blp as audit
from api.resources.insights import blp as insights
from api.resources.log import blp as log
from api.resources.partners import blp as partners
from api.resources.system import blp as system

BLUEPRINTS = [partners, agreements, actions, insights, audit, log, system]
