"""`as_of` over HTTP: every projection read answers as of a global position or a recorded
time (the same answer for both), says which position it shows, and refuses a value it
cannot read with a 400 naming `as_of` and the rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from api import create_app
from registry.demo import load_demo
from registry.projections import ActionFilter
from tests.integration.test_snapshot import in_another_thread, record_and_apply

AMENDED = "00000000-0000-4000-8000-000000000001"  # the demo's amended action
READS = [
    "/v1/partners", "/v1/partners/ohchr", "/v1/partners/ohchr/timeline", "/v1/agreements",
    "/v1/agreements/ohchr-odihr-2014",
    "/v1/agreements/desa-ohchr-crpd-2007/compliance?on=2009-12-31", "/v1/actions",
    f"/v1/actions/{AMENDED}", "/v1/insights/where?country=UA", "/v1/insights/themes",
    "/v1/insights/mechanisms", "/v1/insights/flags", "/v1/insights/summary",
]


def at(path: str, as_of: str | int) -> str:
    return f"{path}{'&' if '?' in path else '?'}as_of={quote(str(as_of))}"


def recorded_at(api, position: int) -> str:
    time = api.ctx.services.queries.clock.time_at(position)
    assert time is not None
    return time


@pytest.mark.parametrize("path", READS)
def test_as_of_a_recorded_time_answers_as_of_the_position_reached_by_then(api, demo_position,
                                                                           path):
    api.report("ohchr")  # something recorded after the demo, which neither answer shows
    by_position = api.get(at(path, demo_position), "auditor")
    by_time = api.get(at(path, recorded_at(api, demo_position)), "auditor")
    assert by_position.status_code == by_time.status_code == 200
    assert by_time.get_json() == by_position.get_json()
    assert by_time.headers["As-Of-Position"] == str(demo_position)
    assert by_position.headers["As-Of-Position"] == str(demo_position)


@pytest.mark.parametrize("path", READS)
def test_without_as_of_a_read_says_the_position_the_read_models_had_reached(api, path):
    queries = api.ctx.services.queries
    before = queries.position()
    response = api.get(path, "auditor")
    assert response.status_code == 200
    assert before <= int(response.headers["As-Of-Position"]) <= queries.position()


def test_an_amendment_is_shown_only_as_of_a_time_after_it_was_recorded(api, demo_position):
    path = f"/v1/actions/{AMENDED}"
    api.problem(api.get(at(path, recorded_at(api, 1))), 404, "not-found")  # not yet reported
    history = api.ok(at(path, demo_position))["history"]
    amended_at = next(v for v in history if v["event"] == "amended")["position"]
    then = api.ok(at(path, recorded_at(api, amended_at - 1)))
    now = api.ok(at(path, recorded_at(api, amended_at)))
    assert (then["version"], now["version"]) == (1, 2)
    assert then["occurred_on"] != now["occurred_on"]


def test_actions_that_occurred_in_a_year_as_the_registry_knew_them_then(api, demo_position):
    history = api.ok(f"/v1/actions/{AMENDED}?as_of={demo_position}")["history"]
    amended_at = next(v for v in history if v["event"] == "amended")["position"]
    when = recorded_at(api, amended_at - 1)
    query = "occurred_from=2010-01-01&occurred_to=2010-12-31&limit=500"
    then = api.ok(at(f"/v1/actions?{query}", when), "auditor")["items"]
    now = api.ok(at(f"/v1/actions?{query}", demo_position), "auditor")["items"]
    assert {a["id"]: a["version"] for a in then}[AMENDED] == 1
    assert {a["id"]: a["version"] for a in now}[AMENDED] == 2


def test_a_time_before_the_first_event_answers_the_empty_registry(api):
    long_ago = "1999-12-31"
    assert api.ok(at("/v1/partners", long_ago)) == []
    assert api.ok(at("/v1/actions", long_ago))["items"] == []
    summary = api.get(at("/v1/insights/summary", long_ago))
    assert summary.headers["As-Of-Position"] == "0"
    assert summary.get_json()["actions"] == 0
    api.problem(api.get(at("/v1/partners/ohchr", long_ago)), 404, "not-found")


def test_a_time_after_the_last_event_answers_the_registry_now(api):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    now = api.get("/v1/partners")
    later = api.get(at("/v1/partners", tomorrow))
    assert later.get_json() == now.get_json()
    assert later.headers["As-Of-Position"] == now.headers["As-Of-Position"]


def test_compliance_as_of_a_position_and_on_a_date(api, demo_position):
    path = "/v1/agreements/desa-ohchr-crpd-2007/compliance?on=2009-12-31"
    report = api.ok(at(path, demo_position))
    assert report["as_of"] == "2009-12-31" and report["as_of_position"] == demo_position
    early = api.ok(at(path, 20))
    assert early["as_of_position"] == 20
    assert sum(early["summary"].values()) == sum(report["summary"].values())
    assert early["summary"]["met"] < report["summary"]["met"]


@pytest.mark.parametrize("value", [
    "yesterday", "-1", "2015-13-01", "2015-02-30", "2015-01-01T25:00", "1.5", "0x10",
    "20150101T000000", "2015-W01-1", "", str(2**63),
])
def test_an_unreadable_as_of_is_a_400_naming_the_field_and_rule(api, value):
    response = api.get(f"/v1/actions?as_of={quote(value)}", "auditor")
    body = api.problem(response, 400, "malformed-request")
    assert [e["field"] for e in body["errors"]] == ["as_of"], body
    assert body["errors"][0]["rule"] in ("schema.type", "schema.range")


@pytest.mark.parametrize("value", ["2015-01-01", "2015-01-01T12:00", "2015-01-01T12:00:00Z",
                                   "2015-01-01 12:00:00.5+02:00", "0", "123"])
def test_readable_as_of_values(api, value):
    assert api.get(f"/v1/partners?as_of={quote(value)}", "auditor").status_code == 200


def test_the_document_describes_as_of_as_a_position_or_a_date_time(api):
    document = api.ok("/openapi.json", "anonymous")
    for path, item in document["paths"].items():
        operation = item.get("get")
        names = {p["name"] for p in (operation or {}).get("parameters", [])}
        if "as_of" not in names:
            continue
        parameter = next(p for p in operation["parameters"] if p["name"] == "as_of")
        kinds = [(s["type"], s.get("format")) for s in parameter["schema"]["oneOf"]]
        assert kinds == [("integer", None), ("string", "date-time"), ("string", "date")]
        assert "integer position or a date-time" in parameter["description"]
        assert "As-Of-Position" in operation["responses"]["200"]["headers"], path
    reads = [p for p, item in document["paths"].items() if "get" in item and any(
        q["name"] == "as_of" for q in item["get"].get("parameters", []))]
    assert len(reads) == len(READS)


def test_a_read_answers_the_rows_of_the_position_it_names_while_the_models_advance(tmp_path):
    """The request reads one snapshot: the read models applying an event between the
    position and the rows (here, forced to) changes neither."""
    app = create_app({"COOPREG_DB": f"sqlite:///{tmp_path / 'registry.db'}",
                      "COOPREG_FOLLOW": False, "TESTING": True})
    services = app.extensions["coopreg"].services
    try:
        load_demo(services.app, catch_up=services.follower.catch_up)
        services.follower.catch_up()
        auditor = app.extensions["coopreg"].tokens.issue("auditor", None, "boa")
        queries, answered_as_of = services.queries, services.queries.answered_as_of

        def then_advance(as_of: int | None) -> int:
            position = answered_as_of(as_of)
            in_another_thread(record_and_apply(services, "UA"))
            return position

        queries.answered_as_of = then_advance  # type: ignore[method-assign]
        response = app.test_client().get("/v1/actions?country=UA&limit=500",
                                         headers={"Authorization": f"Bearer {auditor}"})
        del queries.answered_as_of
        assert response.status_code == 200
        named = int(response.headers["As-Of-Position"])
        assert queries.position() > named
        shown = {item["id"] for item in response.get_json()["items"]}
        then = {item["id"] for item in queries.actions(ActionFilter(country="UA"), as_of=named,
                                                        limit=500).items}
        assert shown == then
    finally:
        services.close()
