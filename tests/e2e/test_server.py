"""The HTTP API as partners and auditors meet it: the real `coopreg serve` (gunicorn, two
worker processes) in a subprocess, on SQLite and on PostgreSQL, driven over HTTP.

One server per store serves the whole module; the tests run in order and build on each
other (an action posted, then read, amended, acknowledged, audited), as a person would."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import postgres_schema
from tests.e2e.servers import (
    Answer,
    coopreg,
    free_port,
    http_call,
    launch,
    stop,
    wait_healthy,
)

AGREEMENT = "ohchr-odihr-2014"
COMMITMENT = "assist-implementation-of-recommendations"


@dataclass
class Server:
    base: str
    tokens: dict[str, str]
    process: subprocess.Popen
    log: Path
    state: dict[str, Any] = field(default_factory=dict)  # what earlier tests recorded

    def call(self, method: str, path: str, as_: str | None = None, body: Any = None,
             headers: dict[str, str] | None = None) -> Answer:
        token = self.tokens[as_] if as_ else None
        return http_call(self.base, method, path, token, body, headers)

    def need(self, key: str) -> Any:
        if key not in self.state:
            pytest.skip(f"an earlier test did not record {key!r}")
        return self.state[key]


@pytest.fixture(scope="module")
def module_postgres_url(postgres_reason: str | None) -> Iterator[str]:
    """Like conftest's `postgres_url` (same server, same skip/fail rule), but a schema
    that lives as long as the module's server: `postgres_url` is function-scoped."""
    with postgres_schema(postgres_reason) as url:
        yield url


@pytest.fixture(scope="module", params=[
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp(f"serve-{request.param}")
    if request.param == "sqlite":
        db = f"sqlite:///{folder / 'registry.db'}"
    else:
        db = request.getfixturevalue("module_postgres_url")
    assert "4 partners, 2 agreements" in coopreg(db, "demo")
    tokens = {
        "odihr": coopreg(db, "token", "issue", "--role", "partner", "--partner",
                         "osce-odihr").strip(),
        "ohchr": coopreg(db, "token", "issue", "--role", "partner", "--partner",
                         "ohchr").strip(),
        "auditor": coopreg(db, "token", "issue", "--role", "auditor").strip(),
    }
    port = free_port()
    log = folder / "server.log"
    process = launch(db, folder, port, workers=2)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, process, log)
        yield Server(base, tokens, process, log)
    finally:
        stop(process)


ACTION = {"partners": ["osce-odihr", "ohchr"], "kind": "joint_activity",
          "occurred_on": {"start": "2025-03-10", "end": "2025-03-12"}, "countries": ["AL"],
          "themes": ["human-rights"], "mechanisms": ["upr"], "agreement": AGREEMENT,
          "commitment": COMMITMENT, "venue": "Tirana",
          "summary": "Joint workshop with the authorities on UPR follow-up (e2e)"}


def test_healthz_needs_no_token_and_the_api_needs_one(server):
    assert server.call("GET", "/healthz").json == {"status": "ok"}
    refused = server.call("GET", "/v1/actions")
    assert refused.status == 401
    assert refused.content_type == "application/problem+json"
    assert refused.headers["www-authenticate"].startswith("Bearer")


def test_a_partner_posts_an_action(server):
    answer = server.call("POST", "/v1/actions", "odihr", ACTION)
    assert answer.status == 201, answer.body
    receipt = answer.json
    assert receipt["aggregate"] == "action" and receipt["version"] == 1
    assert receipt["position"] > 0
    uuid.UUID(receipt["id"])
    server.state["receipt"] = receipt


def test_the_action_reads_back_at_once_with_min_position(server):
    receipt = server.need("receipt")
    # several reads: with two workers some land on the process that did not write
    for _ in range(4):
        answer = server.call("GET", f"/v1/actions/{receipt['id']}?min_position="
                                    f"{receipt['position']}", "ohchr")
        assert answer.status == 200, answer.body
        action = answer.json
        assert answer.headers["etag"] == '"1"'
        assert action["id"] == receipt["id"] and action["version"] == 1
        assert action["reporting_partner"] == "osce-odihr"
        assert action["recorded_by"] == "partner:osce-odihr"
        assert action["confirmation"] == "claimed"
        assert action["occurred_on"] == {"start": "2025-03-10", "end": "2025-03-12"}
        assert [v["version"] for v in action["history"]] == [1]


def test_a_position_not_yet_recorded_is_refused(server):
    answer = server.call("GET", "/v1/actions?min_position=999999999", "odihr")
    assert answer.status == 422
    assert answer.content_type == "application/problem+json"
    assert answer.json["errors"][0]["field"] == "min_position"


def test_the_reporter_amends_with_if_match(server):
    receipt = server.need("receipt")
    missing = server.call("POST", f"/v1/actions/{receipt['id']}/amendments", "odihr",
                          {"changes": {"venue": "Tirana, Albania"}, "reason": "precise venue"})
    assert missing.status == 428
    answer = server.call("POST", f"/v1/actions/{receipt['id']}/amendments", "odihr",
                         {"changes": {"venue": "Tirana, Albania"}, "reason": "precise venue"},
                         headers={"If-Match": '"1"'})
    assert answer.status == 201, answer.body
    assert answer.json["version"] == 2 and answer.json["position"] > receipt["position"]
    server.state["amended"] = answer.json
    read = server.call("GET", f"/v1/actions/{receipt['id']}?min_position="
                              f"{answer.json['position']}", "odihr")
    assert read.json["venue"] == "Tirana, Albania" and read.headers["etag"] == '"2"'
    assert read.json["history"][-1]["reason"] == "precise venue"


def test_a_stale_if_match_is_refused_and_records_nothing(server):
    receipt = server.need("receipt")
    server.need("amended")
    answer = server.call("POST", f"/v1/actions/{receipt['id']}/amendments", "odihr",
                         {"changes": {"venue": "Durrës"}, "reason": "based on version 1"},
                         headers={"If-Match": '"1"'})
    assert answer.status == 412, answer.body
    assert answer.content_type == "application/problem+json"
    assert answer.json["type"].endswith("/precondition-failed")
    read = server.call("GET", f"/v1/actions/{receipt['id']}", "odihr")
    assert read.json["version"] == 2 and read.json["venue"] == "Tirana, Albania"


def test_only_the_reporter_amends(server):
    receipt = server.need("receipt")
    answer = server.call("POST", f"/v1/actions/{receipt['id']}/amendments", "ohchr",
                         {"changes": {"venue": "Geneva"}, "reason": "not mine"},
                         headers={"If-Match": '"2"'})
    assert answer.status == 403 and answer.content_type == "application/problem+json"


def test_the_other_partner_named_acknowledges(server):
    receipt = server.need("receipt")
    answer = server.call("POST", f"/v1/actions/{receipt['id']}/acknowledgement", "ohchr",
                         {"note": "confirmed by the Europe section"})
    assert answer.status == 201, answer.body
    server.state["acknowledged"] = answer.json
    read = server.call("GET", f"/v1/actions/{receipt['id']}?min_position="
                              f"{answer.json['position']}", "odihr")
    action = read.json
    assert action["confirmation"] == "acknowledged"
    assert action["responses"]["ohchr"]["response"] == "acknowledged"


def test_listing_with_filters(server):
    receipt = server.need("receipt")
    last = server.need("acknowledged")["position"]
    query = (f"country=AL&partner=osce-odihr&counterpart=ohchr&kind=joint_activity"
             f"&theme=human-rights&mechanism=upr&agreement={AGREEMENT}"
             f"&occurred_from=2025-01-01&occurred_to=2025-12-31&min_position={last}")
    answer = server.call("GET", f"/v1/actions?{query}", "ohchr")
    assert answer.status == 200, answer.body
    ids = [item["id"] for item in answer.json["items"]]
    assert receipt["id"] in ids
    assert all("AL" in item["countries"] for item in answer.json["items"])
    other = server.call("GET", "/v1/actions?country=AL&occurred_to=2000-01-01", "ohchr")
    assert receipt["id"] not in [item["id"] for item in other.json["items"]]
    paged = server.call("GET", "/v1/actions?limit=2", "ohchr")
    assert len(paged.json["items"]) == 2 and paged.json["next"]
    assert 'rel="next"' in paged.headers["link"]
    following = server.call("GET", paged.json["next"], "ohchr")
    assert following.status == 200
    assert not {i["id"] for i in following.json["items"]} & {
        i["id"] for i in paged.json["items"]}


def test_compliance_counts_the_action_as_evidence(server):
    receipt = server.need("receipt")
    answer = server.call("GET", f"/v1/agreements/{AGREEMENT}/compliance?on=2025-12-31",
                         "odihr")
    assert answer.status == 200, answer.body
    report = answer.json
    assert report["agreement"] == AGREEMENT and report["as_of"] == "2025-12-31"
    assert sum(report["summary"].values()) == len(report["obligations"]) > 0
    evidence = {e for o in report["obligations"] for e in o["evidence"]}
    assert receipt["id"] in evidence
    missing = server.call("GET", "/v1/agreements/no-such-agreement/compliance", "odihr")
    assert missing.status == 404 and missing.content_type == "application/problem+json"


def test_the_auditor_reads_the_actions_events(server):
    receipt = server.need("receipt")
    last = server.need("acknowledged")
    answer = server.call("GET", f"/v1/events?after={receipt['position'] - 1}&limit=1000",
                         "auditor")
    assert answer.status == 200, answer.body
    mine = [e for e in answer.json["items"] if e["originator_id"] == receipt["id"]]
    assert [e["originator_version"] for e in mine] == [1, 2, 3]
    assert mine[0]["position"] == receipt["position"]
    assert mine[-1]["position"] == last["position"]
    assert all(json.loads(e["state"]) for e in mine)
    assert server.call("GET", "/v1/events", "odihr").status == 403


def test_metrics_show_the_requests(server):
    server.need("receipt")
    answer = server.call("GET", "/metrics", "auditor")
    assert answer.status == 200
    assert answer.content_type == "text/plain"
    text = answer.body.decode()
    posted = [line for line in text.splitlines() if line.startswith(
        "coopreg_http_requests_total{") and 'route="/v1/actions"' in line
        and 'method="POST"' in line and 'status="201"' in line]
    assert posted and float(posted[0].rsplit(" ", 1)[1]) >= 1, text[:2000]
    assert "coopreg_events_recorded " in text
