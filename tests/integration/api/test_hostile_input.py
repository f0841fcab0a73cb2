"""Hostile input through the HTTP API: oversized and endless bodies, deeply nested JSON,
huge strings and numbers, bytes that are not UTF-8, control characters, SQL
metacharacters, principals forged in the body or in headers, revoked tokens and tokens of
other partners. Each is answered with a clear 4xx problem naming the field and the rule it
broke, and leaves the store exactly as it was: the same last position and the same
export, byte for byte."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from registry.io import export_events

AMENDED = "00000000-0000-4000-8000-000000000001"  # a demo action: ohchr reported, names un-desa
JSON = "application/json"
NDJSON = "application/x-ndjson"


def snapshot(api: Any) -> tuple[int, str]:
    out = io.StringIO()
    export_events(api.ctx.services.app.recorder, out)
    return api.position(), out.getvalue()


@contextmanager
def store_unchanged(api: Any) -> Iterator[None]:
    before = snapshot(api)
    yield
    after = snapshot(api)
    assert after[0] == before[0], f"the store moved from {before[0]} to {after[0]}"
    assert after[1] == before[1], "the export changed"


def refused(api: Any, response: Any, status: int, field: str | None = None,
            rule: str | None = None) -> dict[str, Any]:
    """A problem of `status` whose errors name `field` (and `rule`)."""
    body = api.problem(response, status)
    if field is not None:
        named = {(e["field"], e["rule"]) for e in body.get("errors", [])}
        assert any(f == field and (rule is None or r == rule) for f, r in named), (
            f"no error on {field} [{rule}] in {body}")
    return body


def nested(depth: int, opening: str = "[") -> bytes:
    return (opening * depth).encode()


# -- oversized bodies ---------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_naming_the_body(api):
    body = json.dumps(api.action_body(summary="x" * (1 << 20))).encode()
    with store_unchanged(api):
        response = api.post("/v1/actions", "ohchr", data=body, content_type=JSON)
        refused(api, response, 413, "body", "body.size")


def test_a_body_without_a_length_is_cut_off_at_the_limit(api):
    """Chunked transfer (no Content-Length; gunicorn marks the input terminated)."""
    body = json.dumps(api.action_body(summary="x" * (2 << 20))).encode()
    with store_unchanged(api):
        response = api.post("/v1/actions", "ohchr", input_stream=io.BytesIO(body),
                            content_type=JSON,
                            environ_overrides={"wsgi.input_terminated": True})
        refused(api, response, 413, "body", "body.size")


def test_a_content_length_that_claims_too_much_is_refused_before_reading(api):
    with store_unchanged(api):
        response = api.post("/v1/actions", "ohchr", data=b"{}", content_type=JSON,
                            environ_overrides={"CONTENT_LENGTH": str(10 ** 12)})
        refused(api, response, 413, "body", "body.size")


def test_an_import_over_its_own_limit_is_413(api):
    line = json.dumps(api.action_body(summary="x" * 9000)) + "\n"
    body = line * ((32 << 20) // len(line) + 1)
    with store_unchanged(api):
        refused(api, api.post("/v1/imports", "ohchr", data=body, content_type=NDJSON), 413,
                "body", "body.size")


# -- deeply nested JSON --------------------------------------------------------------------


@pytest.mark.parametrize("opening", ["[", '{"a":'], ids=["arrays", "objects"])
def test_json_nested_100_000_levels_deep_is_400_and_the_worker_lives_on(api, opening):
    with store_unchanged(api):
        response = api.post("/v1/actions", "ohchr", data=nested(100_000, opening),
                            content_type=JSON)
        refused(api, response, 400, "body", "json.depth")
    assert api.get("/v1/partners", "ohchr").status_code == 200


def test_a_deep_value_inside_a_field_is_a_type_error_of_that_field(api):
    deep = json.loads("[" * 500 + "]" * 500)
    with store_unchanged(api):
        refused(api, api.post("/v1/actions", "ohchr", json=api.action_body(partners=deep)),
                422, "partners[0]", "schema.type")


def test_a_deeply_nested_import_line_is_400(api):
    with store_unchanged(api):
        response = api.post("/v1/imports", "ohchr", data=nested(100_000) + b"\n",
                            content_type=NDJSON)
        refused(api, response, 400, "body", "json.depth")


# -- huge strings and numbers -------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "field"), [
    ({"summary": "x" * 10_001}, "summary"),
    ({"summary": "x" * 900_000}, "summary"),
    ({"venue": "v" * 301}, "venue"),
    ({"references": ["r" * 301]}, "references[0]"),
    ({"countries": ["CH"] * 251}, "countries"),
    ({"partners": ["ohchr"] * 51}, "partners"),
], ids=["summary", "summary-900k", "venue", "reference", "countries", "partners"])
def test_a_string_or_list_over_its_length_names_the_field(api, overrides, field):
    with store_unchanged(api):
        refused(api, api.post("/v1/actions", "ohchr", json=api.action_body(**overrides)),
                422, field, "schema.length")


def test_a_huge_unknown_field_name_is_refused(api):
    with store_unchanged(api):
        response = api.post("/v1/actions", "ohchr",
                            json={**api.action_body(), "k" * 100_000: 1})
        refused(api, response, 422, "k" * 100_000, "schema.unknown")


def test_a_number_of_5000_digits_is_400_not_a_crash(api):
    body = b'{"partners": ' + b"9" * 5000 + b"}"
    with store_unchanged(api):
        refused(api, api.post("/v1/actions", "ohchr", data=body, content_type=JSON), 400,
                "body", "json.number")


def test_a_huge_query_value_is_refused_naming_the_parameter(api):
    response = api.get(f"/v1/actions?partner={'a' * 100_000}", "ohchr")
    assert response.status_code in (400, 422)
    refused(api, response, response.status_code, "partner", "schema.length")


@pytest.mark.parametrize("key", ["k" * 256, "ke\ty", "clé"], ids=["long", "tab", "latin-1"])
def test_an_idempotency_key_is_bounded_visible_ascii(api, key):
    with store_unchanged(api):
        response = api.post("/v1/actions", "ohchr", json=api.action_body(),
                            headers={"Idempotency-Key": key})
        refused(api, response, 422, "Idempotency-Key", "header.idempotency-key")


# -- bytes that are not UTF-8, and what is not text ---------------------------------------


@pytest.mark.parametrize("body", [
    b'{"summary": "\xff\xfe", "partners": ["ohchr"]}',
    json.dumps({"summary": "UTF-16"}).encode("utf-16"),
    b"\xef\xbb\xbf" + json.dumps({"summary": "a BOM"}).encode(),
], ids=["invalid-utf8", "utf16", "bom"])
def test_a_body_that_is_not_utf8_json_is_400(api, body):
    with store_unchanged(api):
        refused(api, api.post("/v1/actions", "ohchr", data=body, content_type=JSON), 400,
                "body")


def test_an_import_that_is_not_utf8_is_refused_naming_the_rule(api):
    with store_unchanged(api):
        response = api.post("/v1/imports", "ohchr", data=b'{"summary": "\xff"}\n',
                            content_type=NDJSON)
        refused(api, response, 422, "body", "import.utf-8")


def test_a_query_or_path_that_is_not_utf8_is_refused(api):
    refused(api, api.get("/v1/actions?country=%FF", "ohchr"), 422, "query", "query.utf-8")
    # what a server hands over for /v1/partners/%FF (the test client would re-encode it)
    response = api.get("/v1/partners/x", "ohchr",
                       environ_overrides={"PATH_INFO": "/v1/partners/\xff"})
    refused(api, response, 422, "path", "path.utf-8")


@pytest.mark.parametrize(("overrides", "field"), [
    ({"summary": "abc\u0000def"}, "summary"),
    ({"summary": "lone \ud800 surrogate"}, "summary"),
    ({"venue": "Geneva\u001b[2J"}, "venue"),
    ({"references": ["ok", "bell\u0007"]}, "references[1]"),
    ({"summary": "next line\u0085"}, "summary"),
    ({"themes": ["human-rights\u007f"]}, "themes[0]"),
], ids=["nul", "surrogate", "escape", "bell", "c1", "delete"])
def test_control_characters_and_lone_surrogates_name_the_field(api, overrides, field):
    with store_unchanged(api):
        refused(api, api.post("/v1/actions", "ohchr", json=api.action_body(**overrides)),
                422, field, "schema.characters")


def test_a_control_character_deep_in_an_agreement_names_its_path(api):
    commitment = {"id": "share-plans", "text": "Share work plans\u0000", "responsible":
                  ["ohchr"], "cadence": "annual"}
    body = api.agreement_body(reference=f"x-{uuid.uuid4().hex[:8]}",
                              commitments=[commitment])
    with store_unchanged(api):
        refused(api, api.post("/v1/agreements", "admin", json=body), 422,
                "commitments[0].text", "schema.characters")


def test_a_control_character_in_a_key_is_named_escaped(api):
    with store_unchanged(api):
        body = refused(api, api.post("/v1/actions", "ohchr",
                                     json={**api.action_body(), "a\u0000b": 1}), 422)
    assert {e["field"] for e in body["errors"]} >= {"a\\x00b"}


def test_tabs_and_line_breaks_are_text(api):
    summary = "First line\n\tsecond line\r\nthird"
    receipt = api.report(summary=summary)
    read = api.ok(f"/v1/actions/{receipt['id']}?min_position={receipt['position']}")
    assert read["summary"] == summary


@pytest.mark.parametrize("path", [
    "/v1/actions?kind=%00", "/v1/insights/where?country=%00%00",
    "/v1/actions?partner=ohchr%1b", "/v1/partners/oh%00chr", "/v1/agreements/%00",
    "/v1/actions?%00=1",
])
def test_control_characters_in_the_query_or_path_are_refused(api, path):
    """They used to reach the database: PostgreSQL refuses NUL in text (a 503)."""
    refused(api, api.get(path, "ohchr"), 422, rule="schema.characters")


def test_a_control_character_in_an_import_names_its_line(api):
    lines = [json.dumps(api.action_body()), json.dumps(api.action_body(summary="bad\u0000"))]
    with store_unchanged(api):
        response = api.post("/v1/imports", "ohchr", data="\n".join(lines) + "\n",
                            content_type=NDJSON)
        refused(api, response, 422, "line 2: summary", "schema.characters")


# -- SQL metacharacters --------------------------------------------------------------------

SQL = ["' OR '1'='1", "'; DROP TABLE stored_events; --", '" OR ""="', "%", "_", "\\",
       "ohchr' --", "1; SELECT pg_sleep(5)"]


@pytest.mark.parametrize("text", SQL)
def test_sql_in_a_filter_matches_nothing(api, demo_position, text):
    for name in ("partner", "counterpart", "kind", "theme", "mechanism", "agreement"):
        response = api.get("/v1/actions", "ohchr", query_string={
            name: text, "as_of": demo_position})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["items"] == [], (name, text)
    country = (text * 2)[:2]  # a country code has two characters
    assert api.ok("/v1/insights/where", "ohchr", query_string={"country": country}) == []


@pytest.mark.parametrize("text", SQL)
def test_sql_in_a_path_finds_nothing(api, text):
    for template in ("/v1/partners/{}", "/v1/agreements/{}", "/v1/partners/{}/timeline"):
        response = api.get(template.format(text.replace("%", "%25")), "ohchr")
        assert response.status_code in (404, 422), (template, text, response.status_code)


@pytest.mark.parametrize("text", SQL)
def test_sql_in_a_slug_field_is_refused(api, text):
    with store_unchanged(api):
        response = api.post("/v1/partners", "admin", json={
            "partner_id": text, "name": "Robert'); DROP TABLE", "kind": "un_entity",
            "seat": "Geneva"})
        refused(api, response, 422, "partner_id", "schema.slug")


def test_sql_in_free_text_is_recorded_verbatim_and_the_tables_stand(api):
    summary = " ".join(SQL)
    before = api.position()
    receipt = api.report(summary=summary, venue="'; DELETE FROM actions; --")
    assert receipt["position"] == before + 1
    read = api.ok(f"/v1/actions/{receipt['id']}?min_position={receipt['position']}")
    assert (read["summary"], read["venue"]) == (summary, "'; DELETE FROM actions; --")
    assert len(api.ok("/v1/actions?limit=500", "auditor")["items"]) > 1
    assert api.ok(f"/v1/events?after={before}", "auditor")["items"][0]["position"] == (
        before + 1)


def test_a_cursor_holding_sql_is_a_position_in_the_order_not_a_query(api, demo_position):
    """A cursor's values are bound as parameters: the page resumes after them."""
    key = ["2014' OR 1=1 --", "x"]
    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
    page = api.ok(f"/v1/actions?cursor={cursor}&as_of={demo_position}&limit=500")["items"]
    everything = api.ok(f"/v1/actions?as_of={demo_position}&limit=500")["items"]
    assert page and len(page) < len(everything)
    assert all([i["occurred_on"]["start"], i["id"]] > key for i in page)


# -- forged principals ---------------------------------------------------------------------


def test_reporting_for_another_partner_in_the_body_is_forbidden(api):
    with store_unchanged(api):
        api.problem(api.post("/v1/actions", "ohchr",
                             json=api.action_body(reporting_partner="un-desa")), 403,
                    "forbidden")


@pytest.mark.parametrize("field", ["recorded_by", "by", "principal", "token_id", "role"])
def test_an_author_in_the_body_is_an_unknown_field(api, field):
    with store_unchanged(api):
        refused(api, api.post("/v1/actions", "ohchr",
                              json={**api.action_body(), field: "admin:ops"}), 422, field,
                "schema.unknown")


@pytest.mark.parametrize("path", [f"/v1/actions/{AMENDED}/acknowledgement",
                                  f"/v1/actions/{AMENDED}/dispute"])
def test_a_response_cannot_name_the_partner_that_responds(api, path):
    """The responding partner is the token's: naming another in the body is refused."""
    with store_unchanged(api):
        refused(api, api.post(path, "un-desa", json={"partner": "osce-odihr",
                                                     "reason": "not us"}), 422, "partner",
                "schema.unknown")


def test_an_amendment_cannot_change_who_reported_the_action(api):
    version = api.ok(f"/v1/actions/{AMENDED}")["version"]
    with store_unchanged(api):
        response = api.post(f"/v1/actions/{AMENDED}/amendments", "ohchr",
                            json={"changes": {"reporting_partner": "un-desa"},
                                  "reason": "hand it over"},
                            headers={"If-Match": f'"{version}"'})
        refused(api, response, 422, "changes.reporting_partner", "schema.unknown")


def test_an_import_line_for_another_partner_is_forbidden(api):
    line = json.dumps({**api.action_body("un-desa"), "reporting_partner": "un-desa"})
    with store_unchanged(api):
        api.problem(api.post("/v1/imports", "ohchr", data=line + "\n", content_type=NDJSON),
                    403, "forbidden")


def test_a_partner_cannot_import_an_admin_command(api):
    line = json.dumps({"command": "register_partner", "partner_id": "rogue", "name": "Rogue",
                       "kind": "un_entity", "seat": "Nowhere"})
    with store_unchanged(api):
        api.problem(api.post("/v1/imports", "ohchr", data=line + "\n", content_type=NDJSON),
                    403, "forbidden")


@pytest.mark.parametrize("header", ["X-Forwarded-User", "X-Coopreg-Principal", "X-Role",
                                    "Forwarded"])
def test_headers_naming_another_principal_are_ignored(api, header):
    with store_unchanged(api):
        response = api.post("/v1/partners", "ohchr", headers={header: "admin:ops"}, json={
            "partner_id": "rogue", "name": "Rogue", "kind": "un_entity", "seat": "Nowhere"})
        api.problem(response, 403, "forbidden")


def test_another_partners_idempotency_key_gives_it_nothing_of_theirs(api):
    key = f"shared-{uuid.uuid4().hex}"
    first = api.receipt(api.post("/v1/actions", "ohchr", json=api.action_body(),
                                 headers={"Idempotency-Key": key}))
    other = api.receipt(api.post("/v1/actions", "un-desa", json=api.action_body("un-desa"),
                                 headers={"Idempotency-Key": key}))
    assert other["id"] != first["id"] and other["position"] > first["position"]
    with store_unchanged(api):
        again = api.receipt(api.post("/v1/actions", "ohchr", json=api.action_body(),
                                     headers={"Idempotency-Key": key}))
    assert again == first


# -- tokens of revoked or other partners ---------------------------------------------------


@pytest.mark.parametrize("authorization", [
    "Bearer {ohchr} {un-desa}", "Bearer {ohchr},{un-desa}", "Bearer\t{ohchr}x",
    "bearer {ohchr_id}_{un_desa_secret}", "Bearer " + "coopreg_" + "a" * 10_000,
], ids=["two-tokens", "comma", "tampered", "spliced", "huge"])
def test_a_token_that_is_not_one_live_token_is_401(api, authorization):
    ohchr, desa = api.tokens["ohchr"], api.tokens["un-desa"]
    header = authorization.format(**{
        "ohchr": ohchr, "un-desa": desa, "ohchr_id": "_".join(ohchr.split("_")[:2]),
        "un_desa_secret": desa.split("_", 2)[2]})
    with store_unchanged(api):
        response = api.post("/v1/actions", "anonymous", json=api.action_body(),
                            headers={"Authorization": header})
        api.problem(response, 401, "unauthorized")


def test_a_revoked_partner_token_writes_nothing(api):
    token = api.ctx.tokens.issue("partner", "ohchr", "revoked-soon")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/v1/partners", "anonymous", headers=headers).status_code == 200
    assert api.ctx.tokens.revoke(token.split("_")[1])
    with store_unchanged(api):
        api.problem(api.post("/v1/actions", "anonymous", json=api.action_body(),
                             headers=headers), 401, "unauthorized")
        api.problem(api.get("/v1/actions", "anonymous", headers=headers), 401)


@pytest.mark.parametrize(("path", "body"), [
    (f"/v1/actions/{AMENDED}/amendments", {"changes": {"summary": "Not ours"},
                                           "reason": "taking over"}),
    (f"/v1/actions/{AMENDED}/retraction", {"reason": "not ours to retract"}),
])
def test_another_partners_token_cannot_correct_an_action(api, path, body):
    version = api.ok(f"/v1/actions/{AMENDED}")["version"]
    with store_unchanged(api):
        response = api.post(path, "un-desa", json=body, headers={"If-Match": f'"{version}"'})
        api.problem(response, 403, "forbidden")


def test_the_reporter_cannot_acknowledge_its_own_action(api):
    with store_unchanged(api):
        body = api.problem(api.post(f"/v1/actions/{AMENDED}/acknowledgement",
                                    "ohchr", json={}), 422)
    assert body["errors"]


# -- path traversal in the URL -------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/v1/partners/..%2F..%2Fetc%2Fpasswd", "/v1/agreements/..%2F..%2Fregistry.db",
    "/v1/partners/%2e%2e", "/v1/../../etc/passwd", "/docs/../../etc/passwd",
    "/v1/agreements/..;/..;/etc",
])
def test_traversal_in_a_url_finds_nothing(api, path):
    response = api.get(path, "ohchr")
    assert response.status_code in (404, 422), (path, response.status_code)
    assert b"root:" not in response.get_data()


# -- on PostgreSQL, which refuses NUL in text ---------------------------------------------


@pytest.fixture
def postgres_api(postgres_url: str) -> Iterator[Any]:
    from api import create_app
    from registry.schemas import load_command
    from tests.integration.api.conftest import Caller

    app = create_app({"COOPREG_DB": postgres_url, "COOPREG_FOLLOW": True, "TESTING": True})
    ctx = app.extensions["coopreg"]
    for partner_id in ("ohchr", "un-desa"):
        ctx.services.app.execute(load_command({
            "command": "register_partner", "partner_id": partner_id, "name": partner_id,
            "kind": "un_entity", "seat": "Geneva"}), by="admin:test")
    try:
        yield Caller(app, {"anonymous": None,
                           "ohchr": ctx.tokens.issue("partner", "ohchr", "pg-test")})
    finally:
        ctx.worker.stop()
        ctx.services.close()


def test_on_postgresql_nul_never_reaches_the_database(postgres_api):
    api = postgres_api
    with store_unchanged(api):
        for path in ("/v1/actions?kind=%00", "/v1/agreements/%00",
                     "/v1/insights/where?country=%00%00", "/v1/partners/oh%00chr"):
            refused(api, api.get(path, "ohchr"), 422, rule="schema.characters")
        refused(api, api.post("/v1/actions", "ohchr",
                              json=api.action_body(summary="nul\u0000")), 422, "summary",
                "schema.characters")
    receipt = api.report(summary="SQL stays text: '; DROP TABLE stored_events; --")
    read = api.ok(f"/v1/actions/{receipt['id']}?min_position={receipt['position']}", "ohchr")
    assert read["summary"] == "SQL stays text: '; DROP TABLE stored_events; --"
