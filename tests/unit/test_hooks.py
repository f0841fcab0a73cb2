"""Every hook is documented and has a test here named test_hook_<hook> (as Datasette
checks its own hooks): a new hook cannot be added without both."""

import inspect
import re
from datetime import date
from pathlib import Path

import pytest

from registry import hookspecs
from registry.domain import Commitment, DueRule
from registry.hookspecs import hookimpl
from registry.rules import (
    AgreementSnapshot,
    DatedFact,
    Finding,
    Obligation,
    PartnerDeclaration,
    RuleInfo,
    VocabularyContribution,
)
from registry.testing import findings_of, host_with, record, registry_with

HOOKS = sorted(n for n, f in vars(hookspecs).items()
               if n.startswith("coopreg_") and inspect.isfunction(f))


def test_there_are_hooks():
    assert len(HOOKS) >= 9


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "When" in doc and ("Returns" in doc or "First result" in doc), hook


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    source = Path(__file__).read_text()
    assert re.search(rf"def test_hook_{hook}\b", source), f"write test_hook_{hook}"


class Everything:
    """One plugin implementing every hook, to show each is called and used."""

    @hookimpl
    def coopreg_partners(self):
        return [PartnerDeclaration("acme", "ACME", (DatedFact("member", "FR", date(2000, 1, 1),
                                                              None, "acme"),))]

    @hookimpl
    def coopreg_vocabulary(self):
        return VocabularyContribution(action_kinds={"acme_visit": "a visit"},
                                      mechanisms={"acme-panel": "panel"},
                                      themes={"acme-theme": "theme"})

    @hookimpl
    def coopreg_rules(self):
        return [RuleInfo("acme.agreement", "checked", "s", "warning"),
                RuleInfo("acme.action", "checked", "s", "warning"),
                RuleInfo("acme.related", "checked", "s", "warning")]

    @hookimpl
    def coopreg_validate_agreement(self, agreement):
        return [Finding("acme.agreement", "warning", f"saw {agreement['reference']}",
                        "reference", "s")]

    @hookimpl
    def coopreg_validate_action(self, action, view):
        return [Finding("acme.action", "warning", f"{len(view.partner_ids())} partners",
                        "kind", "s")]

    @hookimpl
    def coopreg_related_actions(self, action, view):
        candidates = view.similar_actions(action)
        if not candidates:
            return []
        return [Finding("acme.related", "warning", "related", "kind", "s",
                        related=tuple(c["id"] for c in candidates))]

    @hookimpl
    def coopreg_obligations(self, agreement, commitment):
        if commitment.cadence != "annual":
            return None
        return [Obligation(agreement.reference, commitment.id, "only", agreement.signed_on,
                           date(2030, 1, 1), date(2030, 1, 1), commitment.responsible,
                           commitment.counterparts, commitment.fulfilled_by, "annual")]

    @hookimpl
    def coopreg_is_evidence(self, obligation, action):
        return action.kind == "acme_visit" or None

    @hookimpl
    def coopreg_obligation_status(self, obligation, evidence, as_of):
        return "met" if obligation.commitment == "always-met" else None


SNAPSHOT = AgreementSnapshot("a-1", "joint_declaration", ("ohchr", "un-desa"),
                             date(2010, 1, 1), (), None)


def commitment(cadence="annual", cid="c"):
    return Commitment(cid, "t", ("ohchr",), (), cadence, DueRule(), ("work_plan_shared",))


def test_hook_coopreg_partners():
    host = host_with(("acme", Everything()))
    assert host.describe()[0]["partners"] == ["acme"]


def test_hook_coopreg_vocabulary():
    host = host_with(("acme", Everything()))
    assert "acme_visit" in host.vocabulary.action_kinds
    assert {"acme-panel", "upr"} <= host.vocabulary.mechanisms
    assert "acme-theme" in host.vocabulary.themes


def test_hook_coopreg_rules():
    host = host_with(("acme", Everything()))
    assert host.rules_in_force[0]["rules"] == ["acme.action", "acme.agreement", "acme.related"]


def test_hook_coopreg_validate_agreement():
    host = host_with(("acme", Everything()))
    evaluation = host.evaluate_agreement({"reference": "a-1"}, view=None)
    assert evaluation.findings[0].message == "saw a-1"


def test_hook_coopreg_validate_action():
    registry = registry_with(("acme", Everything()))
    assert findings_of(registry)[0].message == "4 partners"


def test_hook_coopreg_related_actions():
    registry = registry_with(("acme", Everything()))
    first = record(registry, reporting_partner="osce-odihr")
    related = [f for f in findings_of(registry) if f.rule == "acme.related"]
    assert related[0].related == (first.aggregate_id,)


def test_hook_coopreg_obligations():
    host = host_with(("acme", Everything()))
    assert [o.period for o in host.obligations(SNAPSHOT, commitment())] == ["only"]
    once = host.obligations(SNAPSHOT, commitment("once"))  # the core's answer
    assert [(o.period, o.due_on) for o in once] == [("once", date(2011, 1, 1))]


def test_hook_coopreg_is_evidence():
    from registry.domain import ActionFacts, Period

    host = host_with(("acme", Everything()))
    obligation = host.obligations(SNAPSHOT, commitment())[0]
    visit = ActionFacts("un-desa", ("un-desa",), "acme_visit", Period.of(date(2012, 1, 1)))
    plan = ActionFacts("ohchr", ("ohchr",), "work_plan_shared", Period.of(date(2012, 1, 1)))
    other = ActionFacts("un-desa", ("un-desa",), "work_plan_shared", Period.of(date(2012, 1, 1)))
    assert host.is_evidence(obligation, visit)  # the plugin said yes
    assert host.is_evidence(obligation, plan)  # the plugin deferred; the core said yes
    assert not host.is_evidence(obligation, other)  # un-desa is not responsible


def test_hook_coopreg_obligation_status():
    host = host_with(("acme", Everything()))
    met = host.obligations(SNAPSHOT, commitment(cid="always-met"))[0]
    assert host.obligation_status(met, [], date(2040, 1, 1)) == "met"
    plain = host.obligations(SNAPSHOT, commitment())[0]
    assert host.obligation_status(plain, [], date(2040, 1, 1)) == "overdue"
    assert host.obligation_status(plain, [], date(2020, 1, 1)) == "due"


def test_related_candidates_include_actions_earlier_in_the_same_batch():
    from registry.schemas import load_command
    from registry.testing import action

    registry = registry_with(("acme", Everything()))
    first, second = registry.app.execute_batch(
        [load_command(action(reporting_partner="osce-odihr")), load_command(action())],
        by="admin:import")
    related = [w for w in second.warnings if w["rule"] == "acme.related"]
    assert related[0]["related"] == [first.aggregate_id]


def test_rules_see_every_registered_partner_in_a_freshly_opened_registry(tmp_path):
    """The view's partner list comes from the store, not from what this process has met."""
    from registry.bootstrap import open_registry

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    registry_with(url=url).close()  # another process registered the four partners
    fresh = open_registry(url, rules=host_with(("acme", Everything())))
    try:
        fresh.follower.catch_up()
        assert findings_of(fresh)[0].message == "4 partners"
    finally:
        fresh.close()
