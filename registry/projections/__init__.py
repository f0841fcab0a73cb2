"""Read models (projections) of the registry and the queries over them."""

from registry.projections.actions import ActionsProjection
from registry.projections.agreements import AgreementsProjection, PartnersProjection
from registry.projections.base import ReadModel, read_model_for
from registry.projections.clock import Clock, ClockProjection, Moment, parse_moment
from registry.projections.compliance import ComplianceProjection
from registry.projections.ledger import Ledger, LedgerProjection
from registry.projections.queries import ActionFilter, Page, Queries
from registry.projections.runner import Follower

PROJECTIONS: tuple[type[ReadModel], ...] = (
    PartnersProjection, AgreementsProjection, ActionsProjection, ComplianceProjection,
    LedgerProjection, ClockProjection)

__all__ = [
    "PROJECTIONS",
    "ActionFilter",
    "ActionsProjection",
    "AgreementsProjection",
    "Clock",
    "ClockProjection",
    "ComplianceProjection",
    "Follower",
    "Ledger",
    "LedgerProjection",
    "Moment",
    "Page",
    "PartnersProjection",
    "Queries",
    "ReadModel",
    "parse_moment",
    "read_model_for",
]
