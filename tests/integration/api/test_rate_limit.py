"""Per-token rate limits through the HTTP API: one partner hammering the registry is
answered 429 while another partner is still served. The buckets run on a clock the tests
move by hand, so nothing here waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from api import create_app
from api.context import Context
from api.ratelimit import RateLimiter, parse
from registry.domain import ValidationFailed
from registry.schemas import load_command
from tests.integration.api.conftest import Caller

SETTING = "reads 5/s burst 5, writes 1/min burst 2"
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def app() -> Iterator[Flask]:
    """Two partners in an in-memory registry, under a low limit."""
    flask_app = create_app({"COOPREG_DB": "sqlite:///:memory:", "COOPREG_FOLLOW": True,
                            "TESTING": True, "COOPREG_RATE_LIMIT": SETTING})
    ctx: Context = flask_app.extensions["coopreg"]
    for partner_id, seat in (("ohchr", "Geneva"), ("un-desa", "New York")):
        ctx.services.app.execute(load_command({
            "command": "register_partner", "partner_id": partner_id,
            "name": partner_id.upper(), "kind": "un_entity", "seat": seat}), by="admin:test")
    ctx.services.follower.catch_up()
    yield flask_app
    ctx.worker.stop()
    ctx.services.close()


@pytest.fixture(scope="module")
def tokens(app: Flask) -> dict[str, str | None]:
    store = app.extensions["coopreg"].tokens
    return {"anonymous": None, "ohchr": store.issue("partner", "ohchr", "hammer"),
            "un-desa": store.issue("partner", "un-desa", "patient")}


@pytest.fixture
def clock(app: Flask) -> Clock:
    """Fresh buckets for each test, on a clock that stands still until moved."""
    clock = Clock()
    app.extensions["coopreg_rate_limiter"] = RateLimiter(parse(SETTING), clock)
    return clock


@pytest.fixture
def api(app: Flask, tokens: dict[str, str | None], clock: Clock) -> Caller:
    return Caller(app, tokens)


def action(partner: str, **overrides: Any) -> dict[str, Any]:
    other = "un-desa" if partner == "ohchr" else "ohchr"
    return {"partners": [partner, other], "kind": "consultation",
            "occurred_on": "2016-03-15", "countries": ["CH"],
            "summary": "Consultation on follow-up to recommendations", **overrides}


def assert_rate_limited(api: Caller, response: Any, kind: str) -> None:
    body = api.problem(response, 429, "rate-limited")
    assert kind in body["detail"] and "retry in" in body["detail"]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["RateLimit-Remaining"] == "0"


def test_a_partner_hammering_is_refused_while_another_is_still_served(api):
    hammering = [api.get("/v1/partners", "ohchr") for _ in range(20)]
    statuses = [r.status_code for r in hammering]
    assert statuses == [200] * 5 + [429] * 15
    for refused in hammering[5:]:
        assert_rate_limited(api, refused, "reads")
    patient = [api.get("/v1/partners", "un-desa").status_code for _ in range(5)]
    assert patient == [200] * 5


def test_the_budget_refills_with_time(api, clock):
    for _ in range(5):
        api.get("/v1/partners", "ohchr")
    refused = api.get("/v1/partners", "ohchr")
    assert refused.status_code == 429
    clock.now += int(refused.headers["Retry-After"])
    assert api.get("/v1/partners", "ohchr").status_code == 200


def test_every_counted_answer_says_what_is_left(api):
    answers = [api.get("/v1/partners/ohchr", "ohchr") for _ in range(3)]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["4", "3", "2"]
    assert {a.headers["RateLimit-Limit"] for a in answers} == {"5"}
    assert all(int(a.headers["RateLimit-Reset"]) >= 1 for a in answers)


def test_writes_have_a_budget_of_their_own_and_a_refused_write_records_nothing(api):
    for _ in range(2):
        api.receipt(api.post("/v1/actions", "ohchr", json=action("ohchr")))
    before = api.position()
    refused = api.post("/v1/actions", "ohchr", json=action("ohchr"))
    assert_rate_limited(api, refused, "writes")
    assert int(refused.headers["Retry-After"]) == 60  # 1/min
    assert api.position() == before
    assert api.get("/v1/partners", "ohchr").status_code == 200  # reads are still allowed
    api.receipt(api.post("/v1/actions", "un-desa", json=action("un-desa")))


def test_refused_requests_do_not_spend_the_budget(api, clock):
    for _ in range(5):
        api.get("/v1/partners", "ohchr")
    for _ in range(50):  # a client that keeps retrying at once gains nothing, loses nothing
        assert api.get("/v1/partners", "ohchr").status_code == 429
    clock.now += 0.2  # one read's worth at 5/s
    assert api.get("/v1/partners", "ohchr").status_code == 200


def test_a_partner_in_many_threads_gets_its_burst_and_no_more(api):
    """Worker threads share the buckets: eight threads of one partner get five reads in
    all, and the other partner is served throughout."""
    statuses: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        client = api.app.test_client()
        headers = api.headers("ohchr")
        for _ in range(10):
            status = client.get("/v1/partners", headers=headers).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    served = [api.get("/v1/partners", "un-desa").status_code for _ in range(5)]
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 5 + [429] * 75
    assert served == [200] * 5


def test_public_paths_and_refused_tokens_are_not_counted(api):
    for _ in range(20):
        health = api.get("/healthz", "anonymous")
        assert health.status_code == 200 and "RateLimit-Remaining" not in health.headers
    for _ in range(20):
        unknown = api.get("/v1/partners", "anonymous",
                          headers={"Authorization": "Bearer coopreg_000000000000_nope"})
        assert unknown.status_code == 401 and "RateLimit-Remaining" not in unknown.headers
    assert api.get("/v1/partners", "ohchr").headers["RateLimit-Remaining"] == "4"


def test_429_is_documented_with_its_headers_on_every_operation_that_needs_a_token(api):
    document = api.get("/openapi.json", "anonymous").get_json()
    documented = document["components"]["responses"]["TOO_MANY_REQUESTS"]
    assert set(documented["headers"]) == {"Retry-After", *RATE_HEADERS}
    assert "application/problem+json" in documented["content"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # the path's own, not an operation
                continue
            public = operation.get("security") == []
            assert ("429" in operation["responses"]) is not public, (method, path)


def test_the_environment_sets_the_limit_when_the_config_does_not(monkeypatch):
    monkeypatch.setenv("COOPREG_RATE_LIMIT", "writes 3/min")
    configured = create_app({"COOPREG_DB": "sqlite:///:memory:", "COOPREG_FOLLOW": False})
    try:
        budgets = configured.extensions["coopreg_rate_limiter"].budgets
        assert (budgets["writes"].rate, budgets["writes"].burst) == (3 / 60, 3)
    finally:
        configured.extensions["coopreg"].services.close()


def test_a_setting_that_is_not_a_budget_stops_the_app_from_starting():
    with pytest.raises(ValidationFailed, match="COOPREG_RATE_LIMIT"):
        create_app({"COOPREG_DB": "sqlite:///:memory:", "COOPREG_FOLLOW": False,
                    "COOPREG_RATE_LIMIT": "as fast as you like"})
