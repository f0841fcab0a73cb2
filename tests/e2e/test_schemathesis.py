"""Property-based run of the OpenAPI document with schemathesis: every operation is called
with generated inputs (valid and invalid) on the in-process WSGI app with the demo loaded,
as a partner and (the reads) as an auditor, and every answer must be no server error and
must match the document: status code, content type, body schema and headers. Then the
stateful run: sequences of calls that follow the links schemathesis infers from the
document (POST /v1/actions -> GET, amend, retract, acknowledge, dispute /v1/actions/{id};
GET /v1/agreements -> /v1/agreements/{reference}/...; and so on), checked the same way.

Bounded for CI: a few examples per operation, a few short scenarios, and a time budget
for the module after which what remains is skipped (saying so). The long run (over
10 000 requests; see docs/reliability.md for its last figures):

    COOPREG_FUZZ_EXAMPLES=300 COOPREG_FUZZ_SCENARIOS=300 COOPREG_FUZZ_BUDGET=7200 \\
    COOPREG_FUZZ_REPORT=fuzz-report.json \\
        .venv/bin/python -m pytest tests/e2e/test_schemathesis.py -p no:cacheprovider

COOPREG_FUZZ_EXAMPLES: examples per operation (default 25); COOPREG_FUZZ_SCENARIOS:
stateful scenarios of up to 20 calls (default 5); COOPREG_FUZZ_BUDGET: seconds for the
module (default 45); COOPREG_FUZZ_REPORT: a JSON file for the request counts, which the
run also prints."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("COOPREG_FUZZ_EXAMPLES", "25"))
SCENARIOS = int(os.environ.get("COOPREG_FUZZ_SCENARIOS", "5"))
BUDGET_SECONDS = float(os.environ.get("COOPREG_FUZZ_BUDGET", "45"))
REPORT = os.environ.get("COOPREG_FUZZ_REPORT")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
STATEFUL = settings(max_examples=SCENARIOS, stateful_step_count=20, deadline=None,
                    database=None, suppress_health_check=list(HealthCheck))
_started: list[float] = []
SENT: Counter[str] = Counter()  # requests sent, by "stateless"/"stateful" and status class


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: Any, value: Any) -> bytes:
    """POST /v1/imports takes NDJSON, documented as a string; other generated values (the
    negative cases) are sent as one JSON line."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("utf-8", "surrogatepass")




def within_budget() -> None:
    """Skip what is left once the module has used its time budget."""
    if not _started:
        _started.append(time.monotonic())
    if time.monotonic() - _started[0] > BUDGET_SECONDS:
        pytest.skip(f"the fuzzing time budget ({BUDGET_SECONDS:.0f} s) is used up; raise "
                    "COOPREG_FUZZ_BUDGET for a longer run")


def load_document() -> Any:
    """The schema, read from the app's /openapi.json at collection (the document does not
    depend on the data; schemathesis' fixture loader, `schemathesis.pytest.from_fixture`,
    fails under pytest 9: its nodes have no `_nodeid`). Cases go to `fuzzed_app`."""
    from api import create_app

    app = create_app({"COOPREG_DB": "sqlite:///:memory:", "COOPREG_FOLLOW": False})
    try:
        return schemathesis.openapi.from_wsgi("/openapi.json", app)
    finally:
        app.extensions["coopreg"].services.close()


schema = load_document()
IDENTITIES: dict[str, list[str]] = {}  # path parameter -> ids that exist (set by fuzzed_app)


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Often use a partner, agreement or action that exists, so the operations on one are
    answered (200, 201, 403...) and not only 404."""
    from hypothesis import strategies as st

    options = [st.just(path_parameters)]
    for name in path_parameters or {}:
        if IDENTITIES.get(name):
            options.append(st.sampled_from(IDENTITIES[name]).map(
                lambda value, name=name: {**path_parameters, name: value}))
    return st.one_of(options)


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory, request) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app the cases are sent to: a SQLite file with the demo, and two tokens."""
    from api import create_app
    from registry.config import parse_database
    from registry.demo import load_demo
    from registry.ledger.notary import ensure_key
    from registry.projections import ActionFilter

    db = tmp_path_factory.mktemp("fuzz") / "registry.db"
    ensure_key(parse_database(f"sqlite:///{db}"))  # as `coopreg init` does: the log signs
    app = create_app({"COOPREG_DB": f"sqlite:///{db}", "COOPREG_FOLLOW": True})
    ctx = app.extensions["coopreg"]
    try:
        load_demo(ctx.services.app, catch_up=ctx.services.follower.catch_up)
        tokens = {"partner": ctx.tokens.issue("partner", "ohchr", "fuzz"),
                  "auditor": ctx.tokens.issue("auditor", None, "fuzz-auditor")}
        queries = ctx.services.queries
        IDENTITIES.update(
            partner_id=[p["id"] for p in queries.partners()],
            reference=[a["reference"] for a in queries.agreements()],
            action_id=[a["id"] for a in queries.actions(ActionFilter(), limit=500).items])
        yield app, tokens
    finally:
        report_requests(request.config)
        IDENTITIES.clear()
        ctx.worker.stop()
        ctx.services.close()


def report_requests(config: Any) -> None:
    """Print (and with COOPREG_FUZZ_REPORT, write) how many requests were sent."""
    figures = {"requests": sum(n for k, n in SENT.items() if k.endswith("xx")),
               **dict(sorted(SENT.items()))}
    line = "schemathesis: " + ", ".join(f"{k} {v}" for k, v in figures.items())
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if terminal is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            terminal.write_line(line)
    if REPORT:
        with open(REPORT, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)


def count(kind: str, status: int) -> None:
    SENT[kind] += 1
    SENT[f"{status // 100}xx"] += 1


def headers_for(app: Any, case: Any, token: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    version = current_version(app, case)
    if version is not None:  # If-Match is not in the document, so the fuzzer never sends it
        headers["If-Match"] = f'"{version}"'
    return headers


def send(case: Any, fuzzed_app: tuple[Any, dict[str, str]], role: str) -> None:
    app, tokens = fuzzed_app
    response = case.call(app=app, headers=headers_for(app, case, tokens[role]))
    count("stateless", response.status_code)
    case.validate_response(response, checks=CHECKS)


def current_version(app: Any, case: Any) -> int | None:
    """The version an update of an existing action or agreement is based on."""
    if case.method != "POST" or not case.path.endswith(("/amendments", "/retraction",
                                                        "/revisions")):
        return None
    queries = app.extensions["coopreg"].services.queries
    params = case.path_parameters or {}
    found = None
    if isinstance(params.get("action_id"), str):
        found = queries.action(params["action_id"])
    elif isinstance(params.get("reference"), str):
        found = queries.agreement(params["reference"])
    return found["version"] if found else None


def fuzz(case: Any, fuzzed_app: tuple[Any, dict[str, str]], role: str) -> None:
    within_budget()
    send(case, fuzzed_app, role)


class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
    """Sequences of calls along the document's (inferred) links, as the partner."""

    fuzzed: tuple[Any, dict[str, str]]

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        app, tokens = self.fuzzed
        return {"app": app, "headers": headers_for(app, case, tokens["partner"])}

    def after_call(self, response: Any, case: Any) -> None:
        super().after_call(response, case)
        count("stateful", response.status_code)
        if response.status_code == 201:  # read your writes in the next step of the scenario
            self.fuzzed[0].extensions["coopreg"].services.follower.catch_up()

    def validate_response(self, response: Any, case: Any,
                          additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None,
                               recorder=self.recorder)


def test_scenarios_along_the_documents_links_match_it(fuzzed_app):
    # bounded by COOPREG_FUZZ_SCENARIOS, not by the time budget, which it does not start:
    # the single calls that follow get the whole budget
    Scenarios.fuzzed = fuzzed_app
    Scenarios.run(settings=STATEFUL)


@schema.parametrize()
@FUZZ
def test_the_api_as_a_partner_matches_its_document(case, fuzzed_app):
    fuzz(case, fuzzed_app, "partner")


@schema.include(method="GET").parametrize()
@FUZZ
def test_the_api_as_an_auditor_matches_its_document(case, fuzzed_app):
    # an auditor only reads: its pass covers the GET operations (the event log included)
    fuzz(case, fuzzed_app, "auditor")
