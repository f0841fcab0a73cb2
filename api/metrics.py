"""Prometheus metrics: requests and their latency by route and status (per process, or
aggregated across gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set), and the events
recorded and projection lag read from the database at scrape time."""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

REQUESTS = Counter("coopreg_http_requests_total", "HTTP requests answered",
                   ["method", "route", "status"])
LATENCY = Histogram("coopreg_http_request_duration_seconds", "HTTP request latency",
                    ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


class StoreCollector:
    """Figures that belong to the database, not to one process."""

    def __init__(self, services: object) -> None:
        self.services = services

    def collect(self) -> object:
        app = self.services.app  # type: ignore[attr-defined]
        recorded = GaugeMetricFamily("coopreg_events_recorded", "Events in the store")
        recorded.add_metric([], app.recorder.max_notification_id() or 0)
        yield recorded
        lag = GaugeMetricFamily("coopreg_projection_lag_events",
                                "Events recorded but not yet in a read model", labels=["name"])
        for name, behind in self.services.follower.lag().items():  # type: ignore[attr-defined]
            lag.add_metric([name], behind)
        yield lag


def install(app: Flask, services: object) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(time.perf_counter() - g.get(
            "started", time.perf_counter()))
        return response

    app.extensions["coopreg_metrics"] = StoreCollector(services)


def exposition(app: Flask) -> Response:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    text = generate_latest(registry)
    store = CollectorRegistry()
    store.register(app.extensions["coopreg_metrics"])
    return Response(text + generate_latest(store), mimetype=CONTENT_TYPE_LATEST)
