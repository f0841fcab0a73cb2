"""Properties of the registry that hold for any history, checked with hypothesis on an
in-memory SQLite store. A state machine plays partners registering, agreeing, reporting,
amending, retracting, acknowledging and disputing, interleaved with commands that must be
refused, and checks that

- replaying the log (export, import into an empty store, rebuild) gives read models with
  the same digests as the live ones, and a rebuild in place does too;
- a correction never loses history: every earlier version of an action stays in its
  history and is what the registry shows `as_of` the position it was recorded at;
- a refused command raises and leaves the last position and every digest unchanged,
  a batch with one bad command included.

The default run is short; a long one:

    HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/integration/test_properties.py
"""

from __future__ import annotations

import io
import os
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)

from registry.bootstrap import Services, open_registry
from registry.domain import RegistryError
from registry.domain.vocabulary import ACTION_KINDS, COUNTRIES, MECHANISMS, THEMES
from registry.io import export_events, import_events
from registry.schemas import load_command

TODAY = date(2026, 11, 1)
PROFILES = {
    "default": {"max_examples": 8, "stateful_step_count": 20},
    "long": {"max_examples": 400, "stateful_step_count": 60},
}
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
for _name, _values in PROFILES.items():
    settings.register_profile(f"coopreg-{_name}", deadline=None, database=None,
                              suppress_health_check=[HealthCheck.too_slow], **_values)
PROPERTIES = settings.get_profile(f"coopreg-{PROFILE if PROFILE in PROFILES else 'default'}")

PARTNER_IDS = [f"partner-{n}" for n in range(6)]  # none a plugin's own: plugins stay quiet
words = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1,
                max_size=40).filter(str.strip)
days = st.dates(date(2000, 1, 1), TODAY)
periods = st.tuples(days, st.integers(0, 30)).map(
    lambda p: p[0].isoformat() if p[1] == 0 or p[0] + timedelta(p[1]) > TODAY else
    {"start": p[0].isoformat(), "end": (p[0] + timedelta(p[1])).isoformat()})


def some(values: frozenset[str], most: int = 3) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(sorted(values)), max_size=most, unique=True)


def snapshot(services: Services) -> tuple[int, dict[str, str]]:
    services.follower.catch_up()
    return services.app.recorder.max_notification_id() or 0, services.follower.digests()


class History(RuleBasedStateMachine):
    """A registry and the model of what it should hold."""

    actions = Bundle("actions")

    def __init__(self) -> None:
        super().__init__()
        self.registry = open_registry("sqlite:///:memory:", today=lambda: TODAY)
        self.partners: list[str] = []
        self.agreements: list[str] = []
        self.versions: dict[str, list[tuple[int, int, str, str]]] = {}  # position etc.
        self.facts: dict[str, dict[str, Any]] = {}
        self.retracted: set[str] = set()
        self.counter = 0

    # -- helpers ------------------------------------------------------------------------

    def execute(self, data: dict[str, Any], by: str = "admin:properties",
                key: str | None = None) -> Any:
        return self.registry.app.execute(load_command(data), by=by, idempotency_key=key)

    def unique(self, text: str) -> str:
        self.counter += 1
        return f"{text} #{self.counter}"

    def refused(self, *commands: dict[str, Any], by: str = "admin:properties",
                key: str | None = None) -> None:
        """The commands (one, or a batch) raise and change nothing."""
        before = snapshot(self.registry)
        with pytest.raises(RegistryError):
            batch = [load_command(c) for c in commands]
            self.registry.app.execute_batch(batch, by=by, idempotency_key=key)
        assert snapshot(self.registry) == before

    def remember(self, action_id: str, receipt: Any, status: str) -> None:
        summary = self.facts[action_id]["summary"]
        self.versions.setdefault(action_id, []).append(
            (receipt.position, receipt.version, summary, status))

    def live(self, action_id: str) -> bool:
        return action_id not in self.retracted

    # -- valid commands -----------------------------------------------------------------

    @initialize()
    def two_partners(self) -> None:
        for partner_id in PARTNER_IDS[:2]:
            self.register(partner_id)

    def register(self, partner_id: str) -> None:
        receipt = self.execute({"command": "register_partner", "partner_id": partner_id,
                                "name": partner_id.title(), "kind": "un_entity",
                                "seat": "Geneva"})
        assert receipt.version == 1
        self.partners.append(partner_id)

    @precondition(lambda self: len(self.partners) < len(PARTNER_IDS))
    @rule()
    def register_partner(self) -> None:
        self.register(PARTNER_IDS[len(self.partners)])

    @rule(data=st.data(), signed=st.dates(date(2000, 1, 1), TODAY), title=words)
    def register_agreement(self, data: st.DataObject, signed: date, title: str) -> None:
        parties = data.draw(st.lists(st.sampled_from(self.partners), min_size=2, max_size=3,
                                     unique=True))
        reference = f"agreement-{len(self.agreements)}"
        self.execute({"command": "register_agreement", "reference": reference,
                      "kind": "joint_declaration", "title": title, "parties": parties,
                      "signed_on": signed.isoformat(), "signed_at": "Geneva",
                      "commitments": [{"id": "meet", "text": "Meet every year",
                                       "responsible": parties, "cadence": "annual",
                                       "fulfilled_by": ["consultation"]}]})
        self.agreements.append(reference)

    @rule(target=actions, data=st.data(), occurred=periods, summary=words,
          kind=st.sampled_from(sorted(ACTION_KINDS)), countries=some(COUNTRIES),
          themes=some(THEMES), mechanisms=some(MECHANISMS))
    def report_action(self, data: st.DataObject, occurred: Any, summary: str, kind: str,
                      countries: list[str], themes: list[str], mechanisms: list[str]) -> str:
        partners = data.draw(st.lists(st.sampled_from(self.partners), min_size=1,
                                      max_size=3, unique=True))
        reporter = partners[0]
        facts = {"reporting_partner": reporter, "partners": partners, "kind": kind,
                 "occurred_on": occurred, "countries": countries, "themes": themes,
                 "mechanisms": mechanisms, "summary": self.unique(summary)}
        if self.agreements and data.draw(st.booleans()):
            facts["agreement"] = data.draw(st.sampled_from(self.agreements))
        action_id = str(uuid.uuid4())
        receipt = self.execute({"command": "report_action", "action_id": action_id, **facts},
                               by=f"partner:{reporter}")
        assert (receipt.aggregate_id, receipt.version) == (action_id, 1)
        self.facts[action_id] = facts
        self.remember(action_id, receipt, "reported")
        return action_id

    @rule(action_id=actions, summary=words, countries=some(COUNTRIES),
          state=st.sampled_from(["expected", "unconditional"]))
    def amend_action(self, action_id: str, summary: str, countries: list[str],
                     state: str) -> None:
        if not self.live(action_id):
            return
        version = self.versions[action_id][-1][1]
        changes = {"summary": self.unique(summary), "countries": countries}
        command = {"command": "amend_action", "action_id": action_id, "changes": changes,
                   "reason": "corrected after review",
                   "expected_version": version if state == "expected" else None}
        reporter = self.facts[action_id]["reporting_partner"]
        receipt = self.execute(command, by=f"partner:{reporter}")
        assert receipt.version == version + 1
        self.facts[action_id].update(changes)
        self.remember(action_id, receipt, "reported")
        self.check_history(action_id)

    @rule(action_id=actions, reason=words)
    def retract_action(self, action_id: str, reason: str) -> None:
        if not self.live(action_id):
            return
        version = self.versions[action_id][-1][1]
        receipt = self.execute({"command": "retract_action", "action_id": action_id,
                                "reason": reason, "expected_version": version})
        self.retracted.add(action_id)
        self.remember(action_id, receipt, "retracted")
        self.check_history(action_id)

    @rule(action_id=actions, data=st.data(), text=words,
          response=st.sampled_from(["acknowledge_action", "dispute_action"]))
    def respond(self, action_id: str, data: st.DataObject, text: str, response: str) -> None:
        facts = self.facts[action_id]
        named = [p for p in facts["partners"] if p != facts["reporting_partner"]]
        if not self.live(action_id) or not named:
            return
        partner = data.draw(st.sampled_from(named))
        words_field = "note" if response == "acknowledge_action" else "reason"
        receipt = self.execute({"command": response, "action_id": action_id,
                                "partner": partner, words_field: self.unique(text)},
                               by=f"partner:{partner}")
        self.remember(action_id, receipt, "reported")
        self.check_history(action_id)

    # -- commands that must be refused --------------------------------------------------

    @rule(action_id=actions, countries=st.sampled_from([["ZZ"], ["QQ"], ["XX", "CH"]]))
    def amend_with_unknown_countries(self, action_id: str, countries: list[str]) -> None:
        self.refused({"command": "amend_action", "action_id": action_id,
                      "changes": {"countries": countries}, "reason": "typo"})

    @rule(action_id=actions, offset=st.sampled_from([-1, 1, 5]))
    def amend_a_version_that_is_not_the_current_one(self, action_id: str,
                                                   offset: int) -> None:
        current = self.versions[action_id][-1][1]
        if current + offset < 1:
            return
        self.refused({"command": "amend_action", "action_id": action_id,
                      "changes": {"summary": self.unique("stale")}, "reason": "stale",
                      "expected_version": current + offset})

    @rule()
    def amend_an_action_that_does_not_exist(self) -> None:
        self.refused({"command": "amend_action", "action_id": str(uuid.uuid4()),
                      "changes": {"summary": "x"}, "reason": "no such action"})

    @rule(action_id=actions)
    def correct_a_retracted_action(self, action_id: str) -> None:
        if self.live(action_id):
            return
        self.refused({"command": "amend_action", "action_id": action_id,
                      "changes": {"summary": self.unique("revived")}, "reason": "revive"})
        self.refused({"command": "retract_action", "action_id": action_id,
                      "reason": "twice"})

    @rule(action_id=actions)
    def the_reporter_responds_to_its_own_action(self, action_id: str) -> None:
        reporter = self.facts[action_id]["reporting_partner"]
        self.refused({"command": "acknowledge_action", "action_id": action_id,
                      "partner": reporter})

    @rule(day=st.dates(TODAY + timedelta(1), date(2100, 1, 1)),
          who=st.sampled_from(["stranger", "in-future", "not-involved", "twice"]))
    def report_what_breaks_an_invariant(self, day: date, who: str) -> None:
        reporter = self.partners[0]
        facts = {"command": "report_action", "reporting_partner": reporter,
                 "partners": [reporter], "kind": "consultation",
                 "occurred_on": "2015-01-01", "summary": "refused"}
        facts.update({
            "stranger": {"partners": [reporter, "nobody-we-know"]},
            "in-future": {"occurred_on": day.isoformat()},
            "not-involved": {"partners": self.partners[1:2]},
            "twice": {"partners": [reporter, reporter]},
        }[who])
        self.refused(facts)

    @rule()
    def register_a_partner_again(self) -> None:
        self.refused({"command": "register_partner", "partner_id": self.partners[0],
                      "name": "Again", "kind": "un_entity", "seat": "Geneva"})

    @rule(action_id=actions, occurred=periods, summary=words)
    def a_batch_with_one_bad_command_records_nothing(self, action_id: str, occurred: Any,
                                                     summary: str) -> None:
        reporter = self.partners[0]
        good = {"command": "report_action", "reporting_partner": reporter,
                "partners": [reporter], "kind": "consultation", "occurred_on": occurred,
                "summary": self.unique(summary)}
        bad = {"command": "amend_action", "action_id": action_id,
               "changes": {"countries": ["ZZ"]}, "reason": "bad"}
        self.refused(good, bad)

    @rule(occurred=periods, summary=words)
    def an_idempotency_key_reused_for_another_command(self, occurred: Any,
                                                      summary: str) -> None:
        reporter = self.partners[0]
        first = {"command": "report_action", "reporting_partner": reporter,
                 "partners": [reporter], "kind": "consultation", "occurred_on": occurred,
                 "summary": self.unique(summary)}
        key = f"key-{self.counter}"
        receipt = self.execute(first, by=f"partner:{reporter}", key=key)
        action_id = receipt.aggregate_id
        self.facts[action_id] = {k: v for k, v in first.items() if k != "command"}
        self.remember(action_id, receipt, "reported")
        again = self.execute(first, by=f"partner:{reporter}", key=key)
        assert again == receipt  # a retry records nothing and answers the first receipt
        self.refused({**first, "summary": self.unique("another")}, by=f"partner:{reporter}",
                     key=key)

    # -- properties ---------------------------------------------------------------------

    def check_history(self, action_id: str) -> None:
        """Every version recorded is in the history and is what the registry showed at
        the position it was recorded at."""
        self.registry.follower.catch_up()
        queries = self.registry.queries
        recorded = self.versions[action_id]
        history = queries.action(action_id)["history"]
        assert [(h["version"], h["position"]) for h in history] == [
            (version, position) for position, version, _, _ in recorded]
        for position, version, summary, status in recorded:
            then = queries.action(action_id, as_of=position)
            assert (then["version"], then["summary"], then["status"]) == (
                version, summary, status)
        first = recorded[0][0]
        assert queries.action(action_id, as_of=first - 1) is None

    def teardown(self) -> None:
        try:
            position, live = snapshot(self.registry)
            for action_id in self.versions:
                self.check_history(action_id)
            self.replayed_into_an_empty_store_gives(position, live)
            self.registry.follower.rebuild()
            assert self.registry.follower.digests() == live, "a rebuild in place differs"
        finally:
            self.registry.close()

    def replayed_into_an_empty_store_gives(self, position: int,
                                           live: dict[str, str]) -> None:
        exported = io.StringIO()
        export_events(self.registry.app.recorder, exported)
        with open_registry("sqlite:///:memory:", today=lambda: TODAY) as copy:
            report = import_events(copy.app.recorder, copy.app.mapper,
                                   io.StringIO(exported.getvalue()))
            assert (report.events, report.renumbered) == (position, False)
            copy.follower.catch_up()
            assert copy.follower.digests() == live, "the replayed read models differ"


TestHistory = History.TestCase
TestHistory.settings = PROPERTIES
