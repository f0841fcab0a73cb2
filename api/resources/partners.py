"""Partners: who may post, and each partner's timeline of actions."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.context import allow, ctx, execute, read_args, state_as_of
from api.resources.common import page, versioned
from api.schemas import (
    AS_OF_POSITION,
    QUERY,
    WRITE,
    ActionPageSchema,
    PageArgs,
    PartnerSchema,
    ReadArgs,
    ReceiptSchema,
)
from registry.projections import ActionFilter
from registry.schemas import RegisterPartnerSchema, body_schema

blp = Blueprint("partners", __name__, url_prefix="/v1/partners",
                description="Partner organizations")
blp.after_request(state_as_of)
PartnerBody = body_schema(RegisterPartnerSchema, name="PartnerBody")


@blp.route("")
class Partners(MethodView):
    @blp.arguments(ReadArgs(), **QUERY)
    @blp.response(200, PartnerSchema(many=True), headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any]) -> Any:
        """Every registered partner."""
        return ctx().services.queries.partners(as_of=read_args(args))

    @allow("admin")
    @blp.arguments(PartnerBody())
    @blp.response(201, ReceiptSchema)
    @blp.doc(**WRITE)
    def post(self, body: dict[str, Any]) -> Any:
        """Register a partner (admins)."""
        return execute(RegisterPartnerSchema.to_command(body))


@blp.route("/<partner_id>")
class PartnerById(MethodView):
    @blp.arguments(ReadArgs(), **QUERY)
    @blp.response(200, PartnerSchema, headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any], partner_id: str) -> Any:
        """One partner."""
        found = ctx().services.queries.partner(partner_id, as_of=read_args(args))
        return versioned(found, f"partner {partner_id}")


@blp.route("/<partner_id>/timeline")
class Timeline(MethodView):
    @blp.arguments(PageArgs(), **QUERY)
    @blp.response(200, ActionPageSchema, headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any], partner_id: str) -> Any:
        """The actions a partner took part in, in the order they occurred."""
        services = ctx().services
        as_of = read_args(args)
        if services.queries.partner(partner_id, as_of=as_of) is None:
            versioned(None, f"partner {partner_id}")
        result = services.queries.actions(ActionFilter(partner=partner_id), as_of=as_of,
                                          limit=args["limit"], cursor=args.get("cursor"))
        return page(result, "partners.Timeline", partner_id=partner_id)
