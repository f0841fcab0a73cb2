"""Read models a person asks for: who did what where, activity by theme and mechanism,
duplication flags, and summary statistics."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.context import ctx, read_args, state_as_of
from api.resources.common import page
from api.schemas import (
    AS_OF_POSITION,
    QUERY,
    ActionPageSchema,
    ActivitySchema,
    FlagArgs,
    ReadArgs,
    SummarySchema,
    WhereArgs,
    WhereSchema,
)

blp = Blueprint("insights", __name__, url_prefix="/v1/insights",
                description="Who did what where, activity, flags and statistics")
blp.after_request(state_as_of)


@blp.route("/where")
class Where(MethodView):
    @blp.arguments(WhereArgs(), **QUERY)
    @blp.response(200, WhereSchema(many=True), headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any]) -> Any:
        """Per country, each partner involved and how many actions of each kind."""
        return ctx().services.queries.who_did_what_where(country=args.get("country"),
                                                         as_of=read_args(args))


@blp.route("/themes")
class Themes(MethodView):
    @blp.arguments(ReadArgs(), **QUERY)
    @blp.response(200, ActivitySchema(many=True), headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any]) -> Any:
        """Actions per theme."""
        return ctx().services.queries.activity("theme", as_of=read_args(args))


@blp.route("/mechanisms")
class Mechanisms(MethodView):
    @blp.arguments(ReadArgs(), **QUERY)
    @blp.response(200, ActivitySchema(many=True), headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any]) -> Any:
        """Actions per mechanism (UPR, treaty bodies, CoE bodies...)."""
        return ctx().services.queries.activity("mechanism", as_of=read_args(args))


@blp.route("/flags")
class Flags(MethodView):
    @blp.arguments(FlagArgs(), **QUERY)
    @blp.response(200, ActionPageSchema, headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any]) -> Any:
        """Actions a plugin related to others, e.g. possible duplication."""
        result = ctx().services.queries.flagged(rule=args.get("rule"), as_of=read_args(args),
                                                limit=args["limit"], cursor=args.get("cursor"))
        return page(result, "insights.Flags")


@blp.route("/summary")
class Summary(MethodView):
    @blp.arguments(ReadArgs(), **QUERY)
    @blp.response(200, SummarySchema, headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any]) -> Any:
        """Counts of partners, agreements and actions, by status and confirmation."""
        as_of = read_args(args)
        services = ctx().services
        head = services.app.event_table.head()  # in the request's snapshot
        last = head if as_of is None else min(as_of, head)
        return {**services.queries.summary(as_of=as_of),
                "events": services.app.event_table.count(until=last), "last_position": last}
