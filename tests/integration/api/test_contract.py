"""The HTTP API's contract, end to end through Flask's test client over the demo scenario:
resources and their representations, receipts and read-your-writes, conditional requests,
idempotency, imports, the event log, insights, operations, and every error as
application/problem+json. Write tests record actions of their own."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

DEMO_PARTNERS = {"ohchr", "un-desa", "osce-odihr", "coe"}
AMENDED = "00000000-0000-4000-8000-000000000001"  # the demo's amended action
RETRACTED = "00000000-0000-4000-8000-000000000002"  # the demo's retracted action
UNKNOWN_ACTION = "00000000-0000-4000-8000-0000000000ff"
NDJSON = "application/x-ndjson"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ndjson(*lines: dict[str, Any]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def cursor_of(*values: Any) -> str:
    """A cursor in the registry's encoding, holding whatever values a client chose."""
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def all_pages(api, url: str, role: str = "auditor", *, via: str = "body") -> list[dict]:
    """Every item, following the body's `next` URL or the Link header's rel="next"."""
    items: list[dict] = []
    for _ in range(200):
        response = api.get(url, role)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        items += body["items"]
        link = response.headers.get("Link")
        if body["next"] is None:
            assert link is None
            return items
        assert link == f'<{body["next"]}>; rel="next"'
        url = body["next"] if via == "body" else link.partition(">")[0].removeprefix("<")
    raise AssertionError("pagination did not end")


# -- partners ---------------------------------------------------------------------------


def test_partners_lists_the_demo_partners(api):
    partners = api.ok("/v1/partners", "ohchr")
    assert {p["id"] for p in partners} >= DEMO_PARTNERS
    for partner in partners:
        assert {"id", "name", "kind", "seat", "version", "recorded_at"} <= set(partner)


def test_partner_by_id_has_its_version_as_etag(api):
    response = api.get("/v1/partners/osce-odihr", "un-desa")
    assert response.status_code == 200
    assert response.get_json()["seat"] == "Warsaw"
    assert response.headers["ETag"] == f'"{response.get_json()["version"]}"'


def test_partner_timeline_holds_only_actions_the_partner_took_part_in(api, demo_position):
    items = all_pages(api, f"/v1/partners/coe/timeline?limit=1&as_of={demo_position}")
    assert items and all("coe" in item["partners"] for item in items)
    assert len({item["id"] for item in items}) == len(items)


def test_admin_registers_a_partner_and_reads_it(api):
    partner_id = unique("unicef")
    receipt = api.receipt(api.post("/v1/partners", "admin", json={
        "partner_id": partner_id, "name": "UNICEF", "kind": "un_entity",
        "seat": "New York"}))
    assert (receipt["aggregate"], receipt["id"], receipt["version"]) == (
        "partner", partner_id, 1)
    found = api.ok(f"/v1/partners/{partner_id}?min_position={receipt['position']}", "auditor")
    assert found["name"] == "UNICEF"


def test_a_partner_may_not_register_partners(api):
    before = api.position()
    response = api.post("/v1/partners", "ohchr", json={
        "partner_id": unique("x"), "name": "X", "kind": "other", "seat": "Geneva"})
    api.problem(response, 403, "forbidden")
    assert api.position() == before


# -- agreements -------------------------------------------------------------------------


def test_agreements_list_and_filter_by_partner(api, demo_position):
    references = {a["reference"] for a in api.ok(f"/v1/agreements?as_of={demo_position}")}
    assert references == {"ohchr-odihr-2014", "desa-ohchr-crpd-2007"}
    desa = api.ok(f"/v1/agreements?partner=un-desa&as_of={demo_position}", "un-desa")
    assert [a["reference"] for a in desa] == ["desa-ohchr-crpd-2007"]


def test_agreement_by_reference_has_history_and_version_etag(api):
    response = api.get("/v1/agreements/ohchr-odihr-2014", "auditor")
    assert response.status_code == 200
    body = response.get_json()
    assert body["parties"] == ["ohchr", "osce-odihr"]
    assert body["history"] and body["history"][0]["version"] == 1
    assert response.headers["ETag"] == f'"{body["version"]}"'


def test_a_party_registers_an_agreement(api):
    reference = unique("pact")
    receipt = api.agreement("ohchr", reference=reference)
    assert (receipt["aggregate"], receipt["id"], receipt["version"]) == (
        "agreement", reference, 1)
    found = api.ok(f"/v1/agreements/{reference}?min_position={receipt['position']}")
    assert found["title"] == "Test declaration"


def test_a_partner_that_is_not_a_party_may_not_register_an_agreement(api):
    before = api.position()
    response = api.post("/v1/agreements", "un-desa",
                        json=api.agreement_body(reference=unique("pact")))
    api.problem(response, 403, "forbidden")
    assert api.position() == before


def test_revisions_need_if_match_with_the_current_version(api):
    reference = unique("pact")
    api.agreement("admin", reference=reference)
    path = f"/v1/agreements/{reference}/revisions"
    body = {"changes": {"title": "Revised declaration"}, "reason": "Renamed at signature"}
    api.problem(api.post(path, "ohchr", json=body), 428, "precondition-required")
    api.problem(api.post(path, "ohchr", json=body, headers={"If-Match": '"7"'}), 412,
                "precondition-failed")
    receipt = api.receipt(api.post(path, "ohchr", json=body, headers={"If-Match": '"1"'}))
    assert receipt["version"] == 2
    response = api.get(f"/v1/agreements/{reference}?min_position={receipt['position']}")
    assert response.get_json()["title"] == "Revised declaration"
    assert response.headers["ETag"] == '"2"'
    api.problem(api.post(path, "ohchr", json=body, headers={"If-Match": '"1"'}), 412)


def test_compliance_shows_the_overdue_review(api):
    report = api.ok("/v1/agreements/desa-ohchr-crpd-2007/compliance?on=2009-12-31", "ohchr")
    assert report["agreement"] == "desa-ohchr-crpd-2007"
    assert report["as_of"] == "2009-12-31"
    review = [o for o in report["obligations"] if o["commitment"] == "review"]
    assert review and {o["status"] for o in review} == {"overdue"}
    assert report["summary"]["overdue"] >= 1


# -- actions ----------------------------------------------------------------------------


def test_report_an_action_as_the_tokens_partner(api):
    receipt = api.report("ohchr")
    assert receipt["aggregate"] == "action" and receipt["version"] == 1
    response = api.get(f"/v1/actions/{receipt['id']}?min_position={receipt['position']}",
                       "un-desa")
    assert response.status_code == 200
    action = response.get_json()
    assert action["reporting_partner"] == "ohchr"
    assert action["recorded_by"] == "partner:ohchr"
    assert (action["status"], action["confirmation"]) == ("reported", "claimed")
    assert [v["version"] for v in action["history"]] == [1]
    assert response.headers["ETag"] == '"1"'


def test_reporting_for_another_partner_is_forbidden(api):
    before = api.position()
    response = api.post("/v1/actions", "ohchr",
                        json=api.action_body("ohchr", reporting_partner="un-desa"))
    api.problem(response, 403, "forbidden")
    assert api.position() == before


def test_admins_do_not_report_actions(api):
    before = api.position()
    response = api.post("/v1/actions", "admin",
                        json=api.action_body("ohchr", reporting_partner="ohchr"))
    api.problem(response, 403, "forbidden")
    assert api.position() == before


@pytest.mark.parametrize(("query", "keep"), [
    ("partner=osce-odihr", lambda a: "osce-odihr" in a["partners"]),
    ("counterpart=ohchr",
     lambda a: "ohchr" in a["partners"] and a["reporting_partner"] != "ohchr"),
    ("country=UA", lambda a: "UA" in a["countries"]),
    ("kind=meeting_attended", lambda a: a["kind"] == "meeting_attended"),
    ("theme=democracy", lambda a: "democracy" in a["themes"]),
    ("mechanism=upr", lambda a: "upr" in a["mechanisms"]),
    ("agreement=desa-ohchr-crpd-2007", lambda a: a["agreement"] == "desa-ohchr-crpd-2007"),
    ("occurred_from=2014-01-01", lambda a: a["occurred_on"]["end"] >= "2014-01-01"),
    ("occurred_to=2009-12-31", lambda a: a["occurred_on"]["start"] <= "2009-12-31"),
    ("occurred_from=2010-01-01&occurred_to=2010-12-31",
     lambda a: a["occurred_on"]["end"] >= "2010-01-01"
     and a["occurred_on"]["start"] <= "2010-12-31"),
    ("include_retracted=false", lambda a: a["status"] != "retracted"),
    ("include_retracted=true", lambda a: True),
], ids=lambda v: v if isinstance(v, str) else "")
def test_action_filters(api, demo_position, query, keep):
    everything = api.ok(f"/v1/actions?limit=500&as_of={demo_position}", "auditor")["items"]
    assert len(everything) == 40 and RETRACTED in {a["id"] for a in everything}
    expected = [a["id"] for a in everything if keep(a)]
    assert expected, "the demo should have matching actions"
    found = api.ok(f"/v1/actions?{query}&limit=500&as_of={demo_position}", "ohchr")
    assert [a["id"] for a in found["items"]] == expected
    assert found["next"] is None


@pytest.mark.parametrize("via", ["body", "link"])
def test_action_pages_follow_next_to_the_end(api, demo_position, via):
    everything = api.ok(f"/v1/actions?limit=500&as_of={demo_position}")["items"]
    paged = all_pages(api, f"/v1/actions?limit=7&as_of={demo_position}", via=via)
    assert [a["id"] for a in paged] == [a["id"] for a in everything]


def test_filtered_pages_keep_their_filter(api, demo_position):
    paged = all_pages(api, f"/v1/actions?partner=osce-odihr&limit=3&as_of={demo_position}",
                      via="link")
    everything = api.ok(f"/v1/actions?partner=osce-odihr&limit=500&as_of={demo_position}")
    assert len(paged) > 3
    assert [a["id"] for a in paged] == [a["id"] for a in everything["items"]]


def test_an_amended_action_shows_its_history(api):
    response = api.get(f"/v1/actions/{AMENDED}", "auditor")
    assert response.status_code == 200
    action = response.get_json()
    assert [v["version"] for v in action["history"]] == [1, 2]
    assert action["history"][1]["reason"]
    assert action["occurred_on"] == {"start": "2010-09-01", "end": "2010-09-03"}
    assert response.headers["ETag"] == '"2"'


def test_amendments_need_if_match_and_the_reporter(api):
    receipt = api.report("ohchr")
    path = f"/v1/actions/{receipt['id']}/amendments"
    body = {"changes": {"summary": "Consultation in Geneva, corrected"},
            "reason": "Summary clarified"}
    before = api.position()
    api.problem(api.post(path, "ohchr", json=body), 428, "precondition-required")
    api.problem(api.post(path, "ohchr", json=body, headers={"If-Match": '"5"'}), 412,
                "precondition-failed")
    api.problem(api.post(path, "un-desa", json=body, headers={"If-Match": '"1"'}), 403,
                "forbidden")
    assert api.position() == before
    amended = api.receipt(api.post(path, "ohchr", json=body, headers={"If-Match": '"1"'}))
    assert (amended["id"], amended["version"]) == (receipt["id"], 2)
    action = api.ok(f"/v1/actions/{receipt['id']}?min_position={amended['position']}")
    assert action["summary"] == "Consultation in Geneva, corrected"
    assert [v["version"] for v in action["history"]] == [1, 2]


def test_retraction_needs_if_match_and_the_reporter(api):
    receipt = api.report("un-desa")
    path = f"/v1/actions/{receipt['id']}/retraction"
    body = {"reason": "Reported in error"}
    api.problem(api.post(path, "un-desa", json=body), 428)
    api.problem(api.post(path, "un-desa", json=body, headers={"If-Match": '"2"'}), 412)
    api.problem(api.post(path, "ohchr", json=body, headers={"If-Match": '"1"'}), 403)
    retracted = api.receipt(api.post(path, "un-desa", json=body, headers={"If-Match": '"1"'}))
    assert retracted["version"] == 2
    action = api.ok(f"/v1/actions/{receipt['id']}?min_position={retracted['position']}")
    assert action["status"] == "retracted"
    live = api.ok("/v1/actions?partner=un-desa&include_retracted=false&limit=500")
    assert receipt["id"] not in {a["id"] for a in live["items"]}


@pytest.mark.parametrize(("response", "body", "confirmation"), [
    ("acknowledgement", {"note": "Confirmed by our Geneva office"}, "acknowledged"),
    ("dispute", {"reason": "We did not take part"}, "disputed"),
])
def test_a_named_partner_responds_to_an_action(api, response, body, confirmation):
    receipt = api.report("ohchr")  # names un-desa
    path = f"/v1/actions/{receipt['id']}/{response}"
    before = api.position()
    own = api.problem(api.post(path, "ohchr", json=body), 422)
    assert "action.respond-own" in {e["rule"] for e in own["errors"]}
    other = api.report("ohchr", partners=["ohchr", "osce-odihr"])
    stranger = api.problem(api.post(f"/v1/actions/{other['id']}/{response}", "un-desa",
                                    json=body), 422)
    assert "action.respondent-named" in {e["rule"] for e in stranger["errors"]}
    assert api.position() == other["position"] and other["position"] == before + 1
    answered = api.receipt(api.post(path, "un-desa", json=body))
    assert (answered["id"], answered["version"]) == (receipt["id"], 2)
    action = api.ok(f"/v1/actions/{receipt['id']}?min_position={answered['position']}")
    assert action["confirmation"] == confirmation
    assert action["responses"]["un-desa"]["response"] == confirmation


# -- receipts, read-your-writes, idempotency, conditional GETs ------------------------------


def test_min_position_beyond_the_log_is_refused(api):
    body = api.problem(api.get(f"/v1/actions?min_position={api.position() + 1000}", "ohchr"),
                       422)
    assert [e["field"] for e in body["errors"]] == ["min_position"]


def test_min_position_sees_the_write_in_every_read_model(api):
    receipt = api.report("ohchr", countries=["CH"], themes=["rule-of-law"])
    position = receipt["position"]
    timeline = all_pages(api, f"/v1/partners/ohchr/timeline?limit=500"
                              f"&min_position={position}")
    assert receipt["id"] in {a["id"] for a in timeline}
    summary = api.ok(f"/v1/insights/summary?min_position={position}")
    assert summary["last_position"] >= position


def test_the_same_idempotency_key_and_body_answer_the_same_receipt(api):
    key = unique("key")
    body = api.action_body("ohchr")
    first = api.receipt(api.post("/v1/actions", "ohchr", json=body,
                                 headers={"Idempotency-Key": key}))
    last = api.ok("/v1/insights/summary")["last_position"]
    again = api.receipt(api.post("/v1/actions", "ohchr", json=body,
                                 headers={"Idempotency-Key": key}))
    assert again == first
    assert api.ok("/v1/insights/summary")["last_position"] == last
    reused = api.post("/v1/actions", "ohchr", json={**body, "summary": "Something else"},
                      headers={"Idempotency-Key": key})
    api.problem(reused, 409, "idempotency-key-reused")
    assert api.ok("/v1/insights/summary")["last_position"] == last


@pytest.mark.parametrize("path", [
    "/v1/partners", "/v1/partners/ohchr", "/v1/partners/ohchr/timeline", "/v1/agreements",
    "/v1/agreements/ohchr-odihr-2014", "/v1/agreements/desa-ohchr-crpd-2007/compliance",
    "/v1/actions", f"/v1/actions/{AMENDED}", "/v1/insights/where?country=UA",
    "/v1/insights/themes", "/v1/insights/mechanisms", "/v1/insights/flags",
    "/v1/plugins",
])
def test_a_matching_if_none_match_answers_304(api, demo_position, path):
    if path != "/v1/plugins":  # as the demo left it, whatever other tests wrote since
        path += f"{'&' if '?' in path else '?'}as_of={demo_position}"
    first = api.get(path, "auditor")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = api.get(path, "auditor", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    changed = api.get(path, "auditor", headers={"If-None-Match": '"not-it"'})
    assert changed.status_code == 200


def test_an_etag_changes_with_the_version(api):
    receipt = api.report("ohchr")
    path = f"/v1/actions/{receipt['id']}"
    api.ok(f"{path}?min_position={receipt['position']}")
    amended = api.receipt(api.post(f"{path}/amendments", "ohchr", json={
        "changes": {"venue": "Palais Wilson"}, "reason": "Venue added"},
        headers={"If-Match": '"1"'}))
    response = api.get(f"{path}?min_position={amended['position']}", headers={
        "If-None-Match": '"1"'})
    assert response.status_code == 200 and response.headers["ETag"] == '"2"'


# -- imports ----------------------------------------------------------------------------


def test_import_records_one_action_per_line(api):
    lines = [api.action_body("un-desa", summary=f"Imported consultation {n}")
             for n in range(3)]
    response = api.post("/v1/imports", "un-desa", data=ndjson(*lines), content_type=NDJSON)
    assert response.status_code == 201, response.get_data(as_text=True)
    report = response.get_json()
    assert report["recorded"] == 3 and len(report["receipts"]) == 3
    for receipt in report["receipts"]:
        assert set(receipt) == {"aggregate", "id", "version", "position", "warnings"}
    last = report["receipts"][-1]
    action = api.ok(f"/v1/actions/{last['id']}?min_position={last['position']}")
    assert (action["reporting_partner"], action["summary"]) == (
        "un-desa", "Imported consultation 2")


def test_a_bad_import_line_is_named_and_nothing_of_its_chunk_is_recorded(api):
    before = api.position()
    body = ndjson(api.action_body("ohchr"), api.action_body("ohchr"),
                  api.action_body("ohchr", occurred_on="not a date"))
    problem = api.problem(api.post("/v1/imports", "ohchr", data=body, content_type=NDJSON),
                          422)
    assert any(e["field"].startswith("line 3") for e in problem["errors"]), problem
    assert api.position() == before


def test_a_domain_error_in_an_import_names_its_line(api):
    before = api.position()
    body = ndjson(api.action_body("ohchr"), api.action_body("ohchr", countries=["QQ"]))
    problem = api.problem(api.post("/v1/imports", "ohchr", data=body, content_type=NDJSON),
                          422)
    fields = {e["field"]: e["rule"] for e in problem["errors"]}
    assert fields.get("line 2: countries[0]") == "country.iso3166", problem
    assert api.position() == before


def test_a_partner_may_not_import_another_partners_action(api):
    before = api.position()
    body = ndjson(api.action_body("ohchr"),
                  api.action_body("un-desa", reporting_partner="un-desa"))
    api.problem(api.post("/v1/imports", "ohchr", data=body, content_type=NDJSON), 403,
                "forbidden")
    assert api.position() == before


def test_a_partner_may_not_import_other_commands(api):
    before = api.position()
    line = {"command": "register_partner", "partner_id": unique("x"), "name": "X",
            "kind": "other", "seat": "Geneva"}
    api.problem(api.post("/v1/imports", "ohchr", data=ndjson(line), content_type=NDJSON),
                403, "forbidden")
    assert api.position() == before


def test_an_import_with_an_idempotency_key_records_once(api):
    key = unique("import")
    body = ndjson(api.action_body("ohchr", summary="Imported once"))
    first = api.post("/v1/imports", "ohchr", data=body, content_type=NDJSON,
                     headers={"Idempotency-Key": key})
    assert first.status_code == 201
    before = api.position()
    again = api.post("/v1/imports", "ohchr", data=body, content_type=NDJSON,
                     headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert api.position() == before


def test_an_import_must_be_ndjson(api):
    api.problem(api.post("/v1/imports", "ohchr", json=api.action_body()), 415,
                "unsupported-media-type")


# -- the event log ----------------------------------------------------------------------


def test_auditors_page_through_the_event_log(api):
    first = api.get("/v1/events?after=10&limit=5", "auditor")
    assert first.status_code == 200
    body = first.get_json()
    assert [e["position"] for e in body["items"]] == [11, 12, 13, 14, 15]
    for event in body["items"]:
        assert {"position", "originator_id", "originator_version", "topic"} <= set(event)
        assert json.loads(event["state"])  # the stored payload, UTF-8 JSON
    assert body["next"] and first.headers["Link"] == f'<{body["next"]}>; rel="next"'
    second = api.ok(body["next"], "auditor")
    assert [e["position"] for e in second["items"]] == [16, 17, 18, 19, 20]
    topics = {e["topic"] for e in api.ok("/v1/events?limit=1000", "auditor")["items"]}
    assert any(t.endswith("Partner.Registered") for t in topics)


def test_each_event_carries_its_leaf_in_the_transparency_log(api):
    from registry.ledger.leaves import event_leaf_hash

    body = api.ok("/v1/events?after=0&limit=5", "auditor")
    for event in body["items"]:
        expected = event_leaf_hash(event["position"], uuid.UUID(event["originator_id"]),
                                   event["originator_version"], event["topic"],
                                   event["state"].encode("utf-8"))
        assert event["leaf_hash"] == expected.hex()


def test_the_event_log_ends_without_next(api):
    head = api.position()
    body = api.ok(f"/v1/events?after={head - 2}&limit=5", "auditor")
    assert [e["position"] for e in body["items"]] == [head - 1, head]
    assert body["next"] is None


# -- insights ---------------------------------------------------------------------------


def test_where_answers_who_did_what_in_a_country(api, demo_position):
    assert api.ok("/v1/insights/where?country=UA", "ohchr")[0]["country"] == "UA"
    where = api.ok(f"/v1/insights/where?country=UA&as_of={demo_position}", "ohchr")
    assert [w["country"] for w in where] == ["UA"]
    partners = {p["partner"]: p["kinds"] for p in where[0]["partners"]}
    assert {"ohchr", "osce-odihr"} <= set(partners)
    assert partners["osce-odihr"].get("submission_to_mechanism", 0) >= 1


@pytest.mark.parametrize(("path", "key", "value"), [
    ("/v1/insights/themes", "theme", "human-rights"),
    ("/v1/insights/mechanisms", "mechanism", "upr"),
])
def test_activity_by_theme_and_mechanism(api, demo_position, path, key, value):
    rows = api.ok(f"{path}?as_of={demo_position}", "admin")
    found = {row[key]: row for row in rows}
    assert value in found and found[value]["actions"] >= 1
    assert found[value]["first_occurred"] <= found[value]["last_occurred"]


def test_the_demo_has_exactly_one_flagged_duplicate(api, demo_position):
    flags = api.ok(f"/v1/insights/flags?as_of={demo_position}", "auditor")
    assert len(flags["items"]) == 1 and flags["next"] is None
    flagged = flags["items"][0]
    assert flagged["occurred_on"]["start"] == "2012-10-09"
    assert [f["rule"] for f in flagged["findings"]] == ["desa.avoid-duplication"]
    same = api.ok(f"/v1/insights/flags?rule=desa.avoid-duplication&as_of={demo_position}")
    assert [a["id"] for a in same["items"]] == [flagged["id"]]


def test_the_summary_counts_the_registry(api):
    summary = api.ok("/v1/insights/summary", "ohchr")
    assert summary["partners"] >= 4 and summary["agreements"] >= 2
    assert summary["actions"] >= 40
    assert summary["actions_by_status"]["retracted"] >= 1
    assert summary["last_position"] == api.position()


def test_the_summary_as_of_a_past_position(api, demo_position):
    api.report("ohchr")
    summary = api.ok(f"/v1/insights/summary?as_of={demo_position}")
    assert summary["actions"] == 40 and summary["last_position"] == demo_position


# -- operations -------------------------------------------------------------------------


def test_plugins_list_the_installed_plugins_and_their_rules(api):
    plugins = {p["name"]: p for p in api.ok("/v1/plugins", "un-desa")}
    assert {"osce", "desa", "coe"} <= set(plugins)
    for plugin in plugins.values():
        assert plugin["rules"] and all({"id", "severity", "summary", "source"} <= set(r)
                                       for r in plugin["rules"])
    assert "osce.participating-state" in {r["id"] for r in plugins["osce"]["rules"]}
    assert "desa.avoid-duplication" in {r["id"] for r in plugins["desa"]["rules"]}


def test_healthz_needs_no_token(api):
    response = api.get("/healthz", "anonymous")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_reports_projection_lag(api):
    body = api.ok("/readyz", "auditor")
    assert body["status"] == "ready" and isinstance(body["projection_lag"], dict)


def test_metrics_expose_requests_and_recorded_events(api):
    api.ok("/v1/partners", "ohchr")
    response = api.get("/metrics", "auditor")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'coopreg_http_requests_total{method="GET",route="/v1/partners",status="200"}' in text
    assert f"coopreg_events_recorded {float(api.position())}" in text


def test_the_openapi_document_and_docs_need_no_token(api):
    spec = api.ok("/openapi.json", "anonymous")
    assert spec["info"]["title"] == "Cooperation Registry"
    assert {"/v1/actions", "/v1/imports", "/v1/events"} <= set(spec["paths"])
    docs = api.get("/docs", "anonymous")
    assert docs.status_code == 200 and docs.mimetype == "text/html"


# -- errors -----------------------------------------------------------------------------


def test_malformed_json_is_400(api):
    before = api.position()
    api.problem(api.post("/v1/actions", "ohchr", data='{"partners": [',
                         content_type="application/json"), 400)
    assert api.position() == before


@pytest.mark.parametrize("authorization", [
    None, "Bearer", "Bearer nonsense", "Basic b2hjaHI6c2VjcmV0",
    "Bearer coopreg_000000000000_not-the-secret",
])
def test_a_missing_or_unknown_token_is_401(api, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = api.get("/v1/partners", "anonymous", headers=headers)
    api.problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_tampered_or_revoked_token_is_401(api):
    token = api.ctx.tokens.issue("partner", "coe", "soon-revoked")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/v1/partners", "anonymous", headers=headers).status_code == 200
    tampered = {"Authorization": f"Bearer {token[:-2]}xx"}
    api.problem(api.get("/v1/partners", "anonymous", headers=tampered), 401)
    token_id = token.split("_")[1]
    assert api.ctx.tokens.revoke(token_id)
    api.problem(api.get("/v1/partners", "anonymous", headers=headers), 401, "unauthorized")
    api.problem(api.post("/v1/actions", "anonymous", headers=headers,
                         json=api.action_body("coe", partners=["coe", "ohchr"])), 401)


@pytest.mark.parametrize("path", [
    "/v1/partners/nobody", "/v1/partners/nobody/timeline", "/v1/agreements/no-such-pact",
    "/v1/agreements/no-such-pact/compliance", f"/v1/actions/{UNKNOWN_ACTION}",
    "/v1/nothing-here",
])
def test_unknown_resources_are_404(api, path):
    api.problem(api.get(path, "ohchr"), 404, "not-found")


@pytest.mark.parametrize(("path", "body", "headers"), [
    (f"/v1/actions/{UNKNOWN_ACTION}/amendments",
     {"changes": {"summary": "x"}, "reason": "r"}, {"If-Match": '"1"'}),
    (f"/v1/actions/{UNKNOWN_ACTION}/retraction", {"reason": "r"}, {"If-Match": '"1"'}),
    (f"/v1/actions/{UNKNOWN_ACTION}/acknowledgement", {}, {}),
    (f"/v1/actions/{UNKNOWN_ACTION}/dispute", {"reason": "r"}, {}),
    ("/v1/agreements/no-such-pact/revisions", {"changes": {"title": "x"}, "reason": "r"},
     {"If-Match": '"1"'}),
])
def test_writes_to_unknown_resources_are_404(api, path, body, headers):
    api.problem(api.post(path, "ohchr", json=body, headers=headers), 404, "not-found")


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/v1/actions"), ("PUT", "/v1/partners/ohchr"),
    ("PATCH", f"/v1/actions/{AMENDED}"), ("GET", "/v1/imports"),
    ("DELETE", "/v1/agreements/ohchr-odihr-2014"),
])
def test_methods_a_resource_does_not_allow_are_405(api, method, path):
    response = api.request(method, path, "admin", json={} if method in ("PUT", "PATCH")
                           else None)
    api.problem(response, 405, "method-not-allowed")
    assert response.headers["Allow"]


def test_a_body_over_one_mebibyte_is_413(api):
    before = api.position()
    body = json.dumps(api.action_body(summary="x" * (1 << 20)))
    api.problem(api.post("/v1/actions", "ohchr", data=body, content_type="application/json"),
                413)
    assert api.position() == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
def test_a_body_that_is_not_json_is_415(api, content_type):
    response = api.post("/v1/actions", "ohchr", data=json.dumps(api.action_body()),
                        content_type=content_type)
    api.problem(response, 415, "unsupported-media-type")


def test_a_schema_error_names_the_field(api):
    before = api.position()
    body = api.problem(api.post("/v1/actions", "ohchr",
                                json=api.action_body(occurred_on="12 June 2014")), 422,
                       "validation-failed")
    assert [e["field"] for e in body["errors"]] == ["occurred_on"]
    unknown = api.problem(api.post("/v1/actions", "ohchr",
                                   json={**api.action_body(), "colour": "blue"}), 422)
    assert {(e["field"], e["rule"]) for e in unknown["errors"]} == {
        ("colour", "schema.unknown")}
    missing = api.problem(api.post("/v1/actions", "ohchr", json={}), 422)
    assert {"partners", "kind", "occurred_on", "summary"} <= {e["field"]
                                                              for e in missing["errors"]}
    assert api.position() == before


def test_a_domain_error_names_its_rule(api):
    body = api.problem(api.post("/v1/actions", "ohchr",
                                json=api.action_body(countries=["QQ"])), 422)
    assert {(e["field"], e["rule"]) for e in body["errors"]} == {
        ("countries[0]", "country.iso3166")}


def test_a_plugin_rule_violation_carries_its_findings(api):
    before = api.position()
    body = api.problem(api.post("/v1/actions", "ohchr", json=api.action_body(
        partners=["ohchr", "osce-odihr"], countries=["JP"], occurred_on="2020-01-01")), 422,
        "rule-violation")
    assert "osce.participating-state" in {e["rule"] for e in body["errors"]}
    finding = next(f for f in body["findings"] if f["rule"] == "osce.participating-state")
    assert (finding["plugin"], finding["severity"]) == ("osce", "error")
    assert finding["field"] == "countries[0]" and finding["source"]
    assert api.position() == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/actions?limit=0", None),
    ("GET", "/v1/actions?limit=many", None),
    ("GET", "/v1/actions?occurred_from=yesterday", None),
    ("GET", "/v1/actions?include_retracted=perhaps", None),
    ("GET", "/v1/actions?as_of=-1", None),
    ("GET", "/v1/actions?cursor=%25%25%25", None),
    ("GET", "/v1/agreements/desa-ohchr-crpd-2007/compliance?on=31-12-2009", None),
    ("GET", "/v1/insights/where?country=UKR", None),
    ("GET", "/v1/events?limit=0", None),
    ("POST", "/v1/actions", []),
    ("POST", "/v1/actions", "just a string"),
    ("POST", "/v1/actions", {"partners": "ohchr", "kind": 7, "occurred_on": [],
                             "summary": None}),
    ("POST", "/v1/agreements", {"reference": "Not A Slug", "parties": ["ohchr"]}),
    ("POST", "/v1/partners", {"partner_id": "ohchr", "name": "Again", "kind": "un_entity",
                              "seat": "Geneva"}),
    pytest.param("GET", f"/v1/actions?cursor={cursor_of('2010-01-01')}", None,
                 id="cursor-of-one-value"),
    pytest.param("GET", f"/v1/insights/flags?cursor={cursor_of(1, 2, 3)}", None,
                 id="flags-cursor-of-three-values"),
    pytest.param("GET", f"/v1/actions?cursor={cursor_of({}, [])}", None,
                 id="cursor-of-objects"),
    pytest.param("GET", f"/v1/actions?as_of={10**30}", None, id="as_of-beyond-int64"),
    pytest.param("GET", f"/v1/events?after={10**30}", None,
                 id="events-after-beyond-int64"),
])
def test_bad_input_is_a_4xx_problem(api, method, path, body):
    before = api.position()
    role = "auditor" if path.startswith("/v1/events") else "admin"
    if method == "POST" and path == "/v1/actions":
        role = "ohchr"
    response = api.request(method, path, role, json=body)
    assert response.status_code in (400, 422), response.get_data(as_text=True)
    api.problem(response, response.status_code)
    assert api.position() == before


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/actions", {"kind": 7}),
    ("/v1/partners", {}),
    ("/v1/imports", None),
])
def test_a_principal_who_may_not_write_learns_that_before_any_validation(api, path, body):
    before = api.position()
    response = api.post(path, "auditor", json=body) if body is not None else api.post(
        path, "auditor", data="not json", content_type="application/x-ndjson")
    api.problem(response, 403, "forbidden")
    assert api.position() == before
