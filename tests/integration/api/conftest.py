"""Fixtures for the HTTP API's contract tests: one app per test module over an in-memory
registry with the demo scenario loaded, a token per role, and a caller that checks what
every answer must be (never a 500, never a stack trace, errors as problem+json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from api import create_app
from api.context import Context
from registry.demo import load_demo

PROBLEM = "application/problem+json"
ROLES = ("anonymous", "ohchr", "un-desa", "auditor", "admin")
RECEIPT_KEYS = {"aggregate", "id", "version", "position", "warnings"}


class Caller:
    """Flask's test client with a bearer token per role, checking the invariants every
    answer keeps: no 500, no traceback, and errors as RFC 9457 problem details."""

    def __init__(self, app: Flask, tokens: dict[str, str | None]) -> None:
        self.app = app
        self.client = app.test_client()
        self.tokens = tokens

    @property
    def ctx(self) -> Context:
        return self.app.extensions["coopreg"]

    def headers(self, role: str, **extra: str) -> dict[str, str]:
        token = self.tokens[role]
        return {**({"Authorization": f"Bearer {token}"} if token else {}), **extra}

    def request(self, method: str, path: str, role: str = "admin", *, json: Any = None,
                data: Any = None, content_type: str | None = None,
                headers: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        all_headers = self.headers(role, **(headers or {}))
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        response = self.client.open(path, method=method, json=json, data=data,
                                    headers=all_headers, **kwargs)
        body = response.get_data()
        assert response.status_code < 500, (
            f"{method} {path} as {role} answered {response.status_code}: {body[:600]!r}")
        assert b"Traceback" not in body, f"{method} {path} leaked a traceback"
        if response.status_code >= 400 and method != "HEAD":
            self.problem(response, response.status_code)
        return response

    def get(self, path: str, role: str = "admin", **kwargs: Any) -> TestResponse:
        return self.request("GET", path, role, **kwargs)

    def post(self, path: str, role: str = "admin", **kwargs: Any) -> TestResponse:
        return self.request("POST", path, role, **kwargs)

    def ok(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        """GET expecting 200; the JSON body."""
        response = self.get(path, role, **kwargs)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    # -- checks -------------------------------------------------------------------------

    @staticmethod
    def problem(response: TestResponse, status: int, kind: str | None = None
                ) -> dict[str, Any]:
        """Assert an RFC 9457 problem of this status (and `type` ending in `kind`)."""
        assert response.status_code == status, (
            f"expected {status}, got {response.status_code}: {response.get_data(as_text=True)}")
        assert response.mimetype == PROBLEM, response.mimetype
        body = json.loads(response.get_data(as_text=True))
        assert {"type", "title", "status", "detail"} <= set(body), body
        assert body["status"] == status
        assert isinstance(body["title"], str) and isinstance(body["detail"], str)
        if kind is not None:
            assert body["type"].endswith(kind), body["type"]
        if "errors" in body:
            for error in body["errors"]:
                assert set(error) == {"field", "rule", "message"}, error
        return body

    @staticmethod
    def receipt(response: TestResponse) -> dict[str, Any]:
        """Assert a 201 write receipt and return it."""
        assert response.status_code == 201, response.get_data(as_text=True)
        body = response.get_json()
        assert set(body) == RECEIPT_KEYS, body
        assert isinstance(body["version"], int) and isinstance(body["position"], int)
        assert isinstance(body["warnings"], list)
        return body

    def position(self) -> int:
        """The last recorded global position, straight from the event store."""
        return self.ctx.services.app.recorder.max_notification_id() or 0

    # -- writes the tests need ----------------------------------------------------------

    def report(self, role: str = "ohchr", **overrides: Any) -> dict[str, Any]:
        """Report an action as `role` (a partner) and answer its receipt."""
        return self.receipt(self.post("/v1/actions", role, json=action_body(role, **overrides)))

    @staticmethod
    def action_body(role: str = "ohchr", **overrides: Any) -> dict[str, Any]:
        return action_body(role, **overrides)

    @staticmethod
    def agreement_body(**overrides: Any) -> dict[str, Any]:
        return agreement_body(**overrides)

    def agreement(self, role: str = "admin", **overrides: Any) -> dict[str, Any]:
        return self.receipt(self.post("/v1/agreements", role,
                                      json=agreement_body(**overrides)))


def action_body(role: str = "ohchr", **overrides: Any) -> dict[str, Any]:
    """A valid action body for a partner token (reporting_partner from the token): the
    reporter with OHCHR or ODIHR, a consultation in Switzerland."""
    other = "ohchr" if role != "ohchr" else "un-desa"
    body: dict[str, Any] = {
        "partners": [role if role in ("ohchr", "un-desa") else "ohchr", other],
        "kind": "consultation", "occurred_on": "2016-03-15", "countries": ["CH"],
        "themes": ["human-rights"], "mechanisms": ["upr"],
        "summary": "Consultation in Geneva on follow-up to recommendations"}
    body.update(overrides)
    return body


def agreement_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": "test-agreement", "kind": "joint_declaration",
        "title": "Test declaration", "parties": ["ohchr", "osce-odihr"],
        "signed_on": "2015-01-20", "signed_at": "Geneva"}
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def app() -> Iterator[Flask]:
    """The API over an in-memory registry holding the demo scenario (one per module)."""
    flask_app = create_app({"COOPREG_DB": "sqlite:///:memory:", "COOPREG_FOLLOW": True,
                            "TESTING": True})
    ctx: Context = flask_app.extensions["coopreg"]
    load_demo(ctx.services.app, catch_up=ctx.services.follower.catch_up)
    ctx.services.follower.catch_up()
    flask_app.config["DEMO_POSITION"] = ctx.services.app.recorder.max_notification_id()
    yield flask_app
    ctx.worker.stop()
    ctx.services.close()


@pytest.fixture(scope="module")
def tokens(app: Flask) -> dict[str, str | None]:
    store = app.extensions["coopreg"].tokens
    return {"anonymous": None, "ohchr": store.issue("partner", "ohchr", "ohchr-test"),
            "un-desa": store.issue("partner", "un-desa", "desa-test"),
            "auditor": store.issue("auditor", None, "boa"),
            "admin": store.issue("admin", None, "ops")}


@pytest.fixture(scope="module")
def api(app: Flask, tokens: dict[str, str | None]) -> Caller:
    return Caller(app, tokens)


@pytest.fixture(scope="module")
def demo_position(app: Flask) -> int:
    """The global position of the demo's last event: `as_of` it, reads ignore what other
    tests of the module wrote."""
    return app.config["DEMO_POSITION"]
