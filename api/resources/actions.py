"""Cooperation actions: reported by partners, corrected by their reporters, acknowledged
or disputed by the partners they name."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView
from flask_smorest import Blueprint

from api.context import (
    allow,
    ctx,
    execute,
    execute_update,
    expected_version,
    read_args,
    require,
    require_partner,
    state_as_of,
)
from api.errors import Forbidden
from api.resources.common import page, versioned
from api.schemas import (
    AS_OF_POSITION,
    QUERY,
    UPDATE,
    WRITE,
    ActionArgs,
    ActionDetailSchema,
    ActionPageSchema,
    ReadArgs,
    ReceiptSchema,
)
from registry.projections import ActionFilter
from registry.schemas import (
    AcknowledgeActionSchema,
    AmendActionSchema,
    DisputeActionSchema,
    ReportActionSchema,
    RetractActionSchema,
    body_schema,
)

blp = Blueprint("actions", __name__, url_prefix="/v1/actions",
                description="Cooperation actions")
blp.after_request(state_as_of)
ActionBody = body_schema(ReportActionSchema, optional=("reporting_partner",), name="ActionBody")
AmendmentBody = body_schema(AmendActionSchema, exclude=("action_id", "expected_version"),
                            name="AmendmentBody")
RetractionBody = body_schema(RetractActionSchema, exclude=("action_id", "expected_version"),
                             name="RetractionBody")
AcknowledgementBody = body_schema(AcknowledgeActionSchema, exclude=("action_id", "partner"),
                                  name="AcknowledgementBody")
DisputeBody = body_schema(DisputeActionSchema, exclude=("action_id", "partner"),
                          name="DisputeBody")
FILTERS = ("partner", "counterpart", "country", "kind", "theme", "mechanism", "agreement",
           "occurred_from", "occurred_to", "include_retracted")


@blp.route("")
class Actions(MethodView):
    @blp.arguments(ActionArgs(), **QUERY)
    @blp.response(200, ActionPageSchema, headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any]) -> Any:
        """Actions, filtered, in the order they occurred; `as_of` for a past state."""
        where = ActionFilter(**{k: args[k] for k in FILTERS if k in args})
        result = ctx().services.queries.actions(where, as_of=read_args(args),
                                                limit=args["limit"], cursor=args.get("cursor"))
        return page(result, "actions.Actions")

    @allow("partner")
    @blp.arguments(ActionBody())
    @blp.response(201, ReceiptSchema)
    @blp.doc(**WRITE)
    def post(self, body: dict[str, Any]) -> Any:
        """Report an action, as the partner the token belongs to."""
        who = require("partner")
        reporting = body.get("reporting_partner") or who.partner
        require_partner(reporting, "report actions")
        return execute(ReportActionSchema.to_command({**body, "reporting_partner": reporting}))


@blp.route("/<uuid:action_id>")
class ActionById(MethodView):
    @blp.arguments(ReadArgs(), **QUERY)
    @blp.response(200, ActionDetailSchema, headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any], action_id: UUID) -> Any:
        """One action with its full history; its ETag is its version."""
        found = ctx().services.queries.action(str(action_id), as_of=read_args(args))
        return versioned(found, f"action {action_id}")


def _correct(schema: Any, body: dict[str, Any], action_id: UUID, what: str) -> Any:
    """A correction (amendment or retraction): only by the partner that reported the
    action, based on the version it read (If-Match)."""
    action = ctx().services.app.action(action_id)
    who = require("partner")
    if who.partner != action.facts.reporting_partner:
        raise Forbidden(f"{who.partner} did not report this action, so may not {what} it "
                        f"(reported by {action.facts.reporting_partner})")
    version = expected_version()
    return execute_update(schema.to_command(
        {**body, "action_id": action_id, "expected_version": version}))


@blp.route("/<uuid:action_id>/amendments")
class Amendments(MethodView):
    @allow("partner")
    @blp.arguments(AmendmentBody())
    @blp.response(201, ReceiptSchema)
    @blp.doc(**UPDATE)
    def post(self, body: dict[str, Any], action_id: UUID) -> Any:
        """Correct an action you reported (If-Match: the version you correct)."""
        return _correct(AmendActionSchema, body, action_id, "amend")


@blp.route("/<uuid:action_id>/retraction")
class Retraction(MethodView):
    @allow("partner")
    @blp.arguments(RetractionBody())
    @blp.response(201, ReceiptSchema)
    @blp.doc(**UPDATE)
    def post(self, body: dict[str, Any], action_id: UUID) -> Any:
        """Retract an action you reported, with a reason (If-Match: its version)."""
        return _correct(RetractActionSchema, body, action_id, "retract")


@blp.route("/<uuid:action_id>/acknowledgement")
class Acknowledgement(MethodView):
    @allow("partner")
    @blp.arguments(AcknowledgementBody())
    @blp.response(201, ReceiptSchema)
    @blp.doc(**WRITE)
    def post(self, body: dict[str, Any], action_id: UUID) -> Any:
        """Confirm an action that names your organization."""
        who = require("partner")
        return execute(AcknowledgeActionSchema.to_command(
            {**body, "action_id": action_id, "partner": who.partner}))


@blp.route("/<uuid:action_id>/dispute")
class Dispute(MethodView):
    @allow("partner")
    @blp.arguments(DisputeBody())
    @blp.response(201, ReceiptSchema)
    @blp.doc(**WRITE)
    def post(self, body: dict[str, Any], action_id: UUID) -> Any:
        """Dispute an action that names your organization, with a reason."""
        who = require("partner")
        return execute(DisputeActionSchema.to_command(
            {**body, "action_id": action_id, "partner": who.partner}))

