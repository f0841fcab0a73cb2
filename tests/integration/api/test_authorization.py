"""Who may do what: every route of the app x every method it allows x every kind of
caller, against an explicit table. A route the table does not name fails here, so a new
endpoint cannot ship without deciding who may call it.

Writes send valid bodies, so "allowed" is 201 (or 422 where the caller is deliberately not
one the command applies to) and "forbidden" is 403 or 401; a refused write records nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from api import create_app

ROLES = ("anonymous", "ohchr", "un-desa", "auditor", "admin")
AMENDED = "00000000-0000-4000-8000-000000000001"  # a demo action, reported by ohchr
SKIPPED_ENDPOINTS = {"static"}  # Flask's static files; the docs' assets come from a CDN


def outcome(anonymous: int, ohchr: int, un_desa: int, auditor: int, admin: int
            ) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, ohchr, un_desa, auditor, admin), strict=True))


OPEN = outcome(200, 200, 200, 200, 200)
READ = outcome(401, 200, 200, 200, 200)
AUDITORS_ONLY = outcome(401, 403, 403, 200, 403)
ADMINS_ONLY = outcome(401, 403, 403, 403, 201)
# the parties (the fixtures' agreements are between ohchr and osce-odihr) and admins
PARTIES_OR_ADMINS = outcome(401, 201, 403, 403, 201)
EACH_PARTNER_FOR_ITSELF = outcome(401, 201, 201, 403, 403)
# the fixtures' actions are reported by ohchr and name un-desa
THE_REPORTER = outcome(401, 201, 403, 403, 403)
# ohchr reported the action: it may not respond to it (422 action.respond-own)
A_NAMED_PARTNER = outcome(401, 422, 201, 403, 403)

MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): READ,
    ("GET", "/metrics"): READ,
    ("GET", "/v1/plugins"): READ,
    ("GET", "/v1/partners"): READ,
    ("POST", "/v1/partners"): ADMINS_ONLY,
    ("GET", "/v1/partners/<partner_id>"): READ,
    ("GET", "/v1/partners/<partner_id>/timeline"): READ,
    ("GET", "/v1/agreements"): READ,
    ("POST", "/v1/agreements"): PARTIES_OR_ADMINS,
    ("GET", "/v1/agreements/<reference>"): READ,
    ("POST", "/v1/agreements/<reference>/revisions"): PARTIES_OR_ADMINS,
    ("GET", "/v1/agreements/<reference>/compliance"): READ,
    ("GET", "/v1/actions"): READ,
    ("POST", "/v1/actions"): EACH_PARTNER_FOR_ITSELF,
    ("GET", "/v1/actions/<uuid:action_id>"): READ,
    ("POST", "/v1/actions/<uuid:action_id>/amendments"): THE_REPORTER,
    ("POST", "/v1/actions/<uuid:action_id>/retraction"): THE_REPORTER,
    ("POST", "/v1/actions/<uuid:action_id>/acknowledgement"): A_NAMED_PARTNER,
    ("POST", "/v1/actions/<uuid:action_id>/dispute"): A_NAMED_PARTNER,
    ("GET", "/v1/insights/where"): READ,
    ("GET", "/v1/insights/themes"): READ,
    ("GET", "/v1/insights/mechanisms"): READ,
    ("GET", "/v1/insights/flags"): READ,
    ("GET", "/v1/insights/summary"): READ,
    ("GET", "/v1/events"): AUDITORS_ONLY,
    ("GET", "/v1/log/checkpoint"): AUDITORS_ONLY,
    ("GET", "/v1/log/proofs/inclusion"): AUDITORS_ONLY,
    ("GET", "/v1/log/proofs/consistency"): AUDITORS_ONLY,
    ("GET", "/v1/log/public-key"): OPEN,  # anyone may check a checkpoint
    # partners import their own actions, admins any command
    ("POST", "/v1/imports"): outcome(401, 201, 201, 403, 201),
}
PUBLIC = {rule for (method, rule), expected in MATRIX.items() if expected == OPEN}
# HEAD answers as GET does (without a body); OPTIONS (a CORS preflight) needs no token
for (_method, _rule), _expected in list(MATRIX.items()):
    if _method == "GET":
        MATRIX[("HEAD", _rule)] = _expected
    MATRIX[("OPTIONS", _rule)] = OPEN  # a CORS preflight carries no credentials


def app_routes() -> list[tuple[str, str]]:
    """(method, rule) for every route of a freshly made app, as its url_map has them."""
    app = create_app({"COOPREG_DB": "sqlite:///:memory:", "COOPREG_FOLLOW": False,
                      "TESTING": True})
    try:
        return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                      if rule.endpoint not in SKIPPED_ENDPOINTS for method in rule.methods)
    finally:
        app.extensions["coopreg"].services.close()


ROUTES = app_routes()


def test_the_matrix_covers_every_route_and_only_those(app):
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules()
              if rule.endpoint not in SKIPPED_ENDPOINTS for method in rule.methods}
    assert routes == set(ROUTES)
    assert sorted(routes - set(MATRIX)) == [], "routes without an authorization entry"
    assert sorted(set(MATRIX) - routes) == [], "entries for routes the app does not have"
    assert {rule for _, rule in routes} >= {"/v1/events", "/v1/imports", "/healthz"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def reporter_for(role: str) -> str:
    return role if role in ("ohchr", "un-desa") else "ohchr"


QUERIES = {"/v1/log/proofs/inclusion": "?position=1&size=2",
           "/v1/log/proofs/consistency": "?first=1&second=2"}


def prepare(api, method: str, rule: str, role: str) -> tuple[str, dict[str, Any]]:
    """The concrete path and request for a route: path values that exist (fresh ones for
    writes, so each case is independent) and a body valid for what the route does."""
    writing = method == "POST"
    values = {"<partner_id>": "ohchr", "<reference>": "ohchr-odihr-2014",
              "<uuid:action_id>": AMENDED}
    if writing and "<reference>" in rule:
        values["<reference>"] = api.agreement("admin", reference=unique("pact"))["id"]
    if writing and "<uuid:action_id>" in rule:
        values["<uuid:action_id>"] = api.report("ohchr", partners=["ohchr", "un-desa"])["id"]
    path = rule
    for name, value in values.items():
        path = path.replace(name, value)
    if not writing:
        return path + QUERIES.get(rule, ""), {}
    if_match = {"If-Match": '"1"'}
    requests: dict[str, dict[str, Any]] = {
        "/v1/partners": {"json": {"partner_id": unique("org"), "name": "An organization",
                                  "kind": "other", "seat": "Vienna"}},
        "/v1/agreements": {"json": api.agreement_body(reference=unique("pact"))},
        "/v1/agreements/<reference>/revisions": {
            "json": {"changes": {"title": "Revised title"}, "reason": "Retitled"},
            "headers": if_match},
        "/v1/actions": {"json": api.action_body(reporter_for(role))},
        "/v1/actions/<uuid:action_id>/amendments": {
            "json": {"changes": {"venue": "Palais Wilson"}, "reason": "Venue added"},
            "headers": if_match},
        "/v1/actions/<uuid:action_id>/retraction": {
            "json": {"reason": "Reported in error"}, "headers": if_match},
        "/v1/actions/<uuid:action_id>/acknowledgement": {"json": {"note": "Confirmed"}},
        "/v1/actions/<uuid:action_id>/dispute": {"json": {"reason": "Not ours"}},
        "/v1/imports": {
            "data": json.dumps(api.action_body(reporter_for(role),
                                               reporting_partner=reporter_for(role))) + "\n",
            "content_type": "application/x-ndjson"},
    }
    return path, requests[rule]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "rule"), ROUTES, ids=[f"{m} {r}" for m, r in ROUTES])
def test_who_may_call_what(api, method, rule, role):
    assert (method, rule) in MATRIX, f"{method} {rule} has no entry in the matrix"
    expected = MATRIX[(method, rule)][role]
    path, request = prepare(api, method, rule, role)
    before = api.position()
    response = api.request(method, path, role, **request)
    assert response.status_code == expected, (
        f"{method} {path} as {role}: {response.status_code} "
        f"{response.get_data(as_text=True)[:400]}")
    if response.status_code in (401, 403) and method != "HEAD":
        body = api.problem(response, response.status_code)
        assert body["type"].endswith("unauthorized" if expected == 401 else "forbidden")
    if method == "POST" and expected == 201:
        recorded = response.get_json()
        receipts = recorded.get("receipts", [recorded])
        assert api.position() == before + len(receipts) and receipts
    elif method == "POST":
        assert api.position() == before, f"a refused {method} {path} recorded something"
