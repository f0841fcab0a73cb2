"""Plugins in force, liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from api import metrics
from api.context import ctx
from api.errors import NotReady
from api.schemas import PluginSchema

blp = Blueprint("system", __name__, url_prefix="", description="Plugins and operations")
MAX_READY_LAG = 1000


@blp.route("/v1/plugins")
class Plugins(MethodView):
    @blp.response(200, PluginSchema(many=True))
    def get(self) -> Any:
        """The active plugins: versions, hooks, partners and rules."""
        return ctx().services.app.rules.describe()  # type: ignore[attr-defined]


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200)
    def get(self) -> Any:
        """The process answers (no authentication)."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200)
    def get(self) -> Any:
        """The database answers and the read models are close to the log."""
        lag = ctx().services.follower.lag()
        if max(lag.values(), default=0) > MAX_READY_LAG:
            raise NotReady(f"read models are behind the log: {lag}")
        return {"status": "ready", "projection_lag": lag}


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.doc(responses={"200": {"description": "Prometheus text exposition",
                                "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get(self) -> Any:
        """Requests, latency, events recorded and projection lag (Prometheus)."""
        return metrics.exposition(current_app)
