"""An action: what a partner reports, and the invariants that keep the record sound."""

from datetime import date
from uuid import uuid4

import pytest

from registry.domain import Action, ActionFacts, Period, ValidationFailed, action_problems
from registry.domain.vocabulary import CORE_VOCABULARY

TODAY = date(2026, 11, 1)
PARTNERS = {"ohchr", "osce-odihr", "un-desa"}


def facts(**overrides) -> ActionFacts:
    values = dict(reporting_partner="ohchr", partners=("ohchr", "osce-odihr"),
                  kind="joint_activity", occurred_on=Period.of(date(2014, 6, 12)),
                  countries=("UA",), summary="Joint workshop")
    values.update(overrides)
    return ActionFacts(**values)


def rules_of(found) -> set[str]:
    return {p.rule for p in found}


def check(f: ActionFacts) -> set[str]:
    return rules_of(action_problems(f, partners=PARTNERS, vocabulary=CORE_VOCABULARY,
                                    find_agreement=lambda ref: None, today=TODAY))


def test_a_sound_action_has_no_problems():
    assert check(facts()) == set()


@pytest.mark.parametrize(("overrides", "rule"), [
    ({"partners": ("ohchr", "who")}, "partner.known"),
    ({"reporting_partner": "who", "partners": ("who", "ohchr")}, "partner.known"),
    ({"partners": ("osce-odihr",)}, "action.reporting-partner-involved"),
    ({"partners": ("ohchr", "ohchr")}, "action.distinct-partners"),
    ({"kind": "picnic"}, "action.kind"),
    ({"countries": ("QQ",)}, "country.iso3166"),
    ({"mechanisms": ("ecthr",)}, "action.mechanism"),
    ({"themes": ("weather",)}, "action.theme"),
    ({"occurred_on": Period(date(2014, 6, 12), date(2014, 6, 1))}, "period.end-before-start"),
    ({"occurred_on": Period.of(date(2026, 11, 2))}, "period.in-future"),
    ({"commitment": "annual-work-plans"}, "action.commitment-needs-agreement"),
    ({"agreement": "no-such-agreement"}, "agreement.known"),
])
def test_each_invariant_names_its_rule(overrides, rule):
    assert rule in check(facts(**overrides))


def test_today_is_not_the_future_but_tomorrow_is():
    assert check(facts(occurred_on=Period.of(TODAY))) == set()
    assert check(facts(occurred_on=Period.of(date(2026, 11, 2)))) == {"period.in-future"}


def test_all_problems_are_reported_at_once():
    found = check(facts(kind="picnic", countries=("QQ",), partners=("osce-odihr",)))
    assert found == {"action.kind", "country.iso3166", "action.reporting-partner-involved"}


def test_kosovo_user_assigned_code_is_accepted():
    assert check(facts(countries=("XK",))) == set()


def new_action() -> Action:
    return Action(id=uuid4(), facts=facts().as_payload(), recorded_by="partner:ohchr",
                  evaluation={})


def test_an_amendment_keeps_the_earlier_version_in_the_events():
    action = new_action()
    action.amend(facts(countries=("UA", "GE")), "Georgia was missing", "partner:ohchr", {})
    events = action.collect_events()
    assert [type(e).__name__ for e in events] == ["Reported", "Amended"]
    assert events[1].changes == {"countries": ["UA", "GE"]}
    assert events[1].reason == "Georgia was missing"
    assert action.facts.countries == ("UA", "GE")
    assert action.version == 2


def test_an_amendment_that_changes_nothing_is_refused():
    action = new_action()
    with pytest.raises(ValidationFailed) as caught:
        action.amended_facts({"countries": ["UA"]})
    assert caught.value.problems[0].rule == "action.amendment-changes-nothing"


def test_only_amendable_fields_can_change():
    with pytest.raises(ValidationFailed) as caught:
        new_action().amended_facts({"reporting_partner": "un-desa"})
    assert caught.value.problems[0].rule == "action.amendable"


def test_a_retracted_action_cannot_be_amended_or_retracted_again():
    action = new_action()
    action.retract("reported twice", "partner:ohchr", {})
    assert action.is_retracted
    with pytest.raises(ValidationFailed) as caught:
        action.amended_facts({"summary": "new"})
    assert caught.value.problems[0].rule == "action.retracted"
    with pytest.raises(ValidationFailed):
        action.retract("again", "partner:ohchr", {})
    assert [type(e).__name__ for e in action.collect_events()] == ["Reported", "Retracted"]


def test_counterparts_are_the_partners_other_than_the_reporter():
    assert facts(partners=("ohchr", "osce-odihr", "un-desa")).counterparts == (
        "osce-odihr", "un-desa")


def test_a_partner_named_acknowledges_and_the_claim_is_confirmed():
    action = Action(id=uuid4(), facts=facts(partners=("ohchr", "osce-odihr", "un-desa"))
                    .as_payload(), recorded_by="partner:ohchr", evaluation={})
    assert action.confirmation == "claimed"
    action.acknowledge("osce-odihr", "we were there", "partner:osce-odihr", {})
    assert action.confirmation == "claimed"  # un-desa has not answered yet
    action.acknowledge("un-desa", "", "partner:un-desa", {})
    assert action.confirmation == "acknowledged"


def test_one_dispute_makes_the_claim_disputed_and_an_amendment_reopens_it():
    action = new_action()
    action.dispute("osce-odihr", "we did not take part", "partner:osce-odihr", {})
    assert action.confirmation == "disputed"
    action.amend(facts(summary="OHCHR workshop; ODIHR invited"), "clarified", "p", {})
    assert action.confirmation == "claimed"


@pytest.mark.parametrize(("partner", "rule"), [
    ("ohchr", "action.respond-own"),
    ("un-desa", "action.respondent-named"),
])
def test_only_other_partners_named_may_respond(partner, rule):
    with pytest.raises(ValidationFailed) as caught:
        new_action().acknowledge(partner, "", f"partner:{partner}", {})
    assert caught.value.problems[0].rule == rule


def test_an_action_still_going_on_has_not_yet_occurred():
    ongoing = facts(occurred_on=Period(date(2026, 10, 1), date(2026, 12, 31)))
    found = action_problems(ongoing, partners=PARTNERS, vocabulary=CORE_VOCABULARY,
                            find_agreement=lambda ref: None, today=TODAY)
    assert [(p.field, p.rule) for p in found] == [("occurred_on.end", "period.in-future")]


def test_the_same_response_twice_records_nothing_new():
    action = new_action()
    action.acknowledge("osce-odihr", "confirmed", "partner:osce-odihr", {})
    with pytest.raises(ValidationFailed) as caught:
        action.acknowledge("osce-odihr", "confirmed", "partner:osce-odihr", {})
    assert caught.value.problems[0].rule == "action.response-unchanged"
    action.dispute("osce-odihr", "on reflection, no", "partner:osce-odihr", {})
    assert action.confirmation == "disputed"
