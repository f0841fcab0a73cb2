"""The OSCE/ODIHR plugin: participating States as of the action's dates, UPR contributions,
field regions, and the words it adds. Each boundary is tested on both sides."""

from __future__ import annotations

from datetime import date

import pytest

from plugins import osce
from registry.domain import ValidationFailed
from registry.domain.vocabulary import CORE_VOCABULARY, COUNTRIES
from registry.rules import RuleViolation
from registry.testing import assert_finding, assert_no_finding, findings_of, record

STATE = "osce.participating-state"
UPR = "osce.upr-contribution"
REGION = "osce.field-region"
TODAY = date(2026, 11, 1)

# domain-facts.md, "OSCE participating States (57)"
DOMAIN_FACTS_LIST = (
    "AL AD AM AT AZ BY BE BA BG CA HR CY CZ DK EE FI FR GE DE GR VA HU IS IE IT KZ KG LV LI "
    "LT LU MT MD MC MN ME NL MK NO PL PT RO RU SM RS SK SI ES SE CH TJ TR TM UA GB US UZ")
THE_57 = set(DOMAIN_FACTS_LIST.split())

ODIHR = {"reporting_partner": "osce-odihr", "partners": ["osce-odihr", "ohchr"]}


@pytest.fixture
def registry(coopreg_registry):
    return coopreg_registry(("osce", osce))


def odihr(registry, countries, occurred_on, **overrides):
    return findings_of(registry, **{**ODIHR, "countries": countries,
                                    "occurred_on": occurred_on, **overrides})


def only(findings, rule):
    return [f for f in findings if f.rule == rule]


# -- declared facts -------------------------------------------------------------------------

def participating_on(day: date) -> set[str]:
    [declaration] = osce.coopreg_partners()
    return {f.value for f in declaration.facts
            if f.subject == "participating-state" and f.holds_on(day)}


def test_declares_odihr_in_warsaw_terms():
    [declaration] = osce.coopreg_partners()
    assert declaration.partner_id == "osce-odihr"
    assert declaration.name == "OSCE Office for Democratic Institutions and Human Rights"


def test_exactly_the_57_participating_states_today():
    assert participating_on(TODAY) == THE_57
    assert len(participating_on(TODAY)) == 57


def test_none_is_suspended_today_and_partners_for_co_operation_are_not_states():
    [declaration] = osce.coopreg_partners()
    open_ended = {f.value for f in declaration.facts if f.valid_to is None}
    assert open_ended == THE_57
    assert not {"JP", "AU", "KR", "TH", "AF", "IL", "EG"} & participating_on(TODAY)


def test_membership_counts_as_of_the_date():
    assert len(participating_on(date(2012, 11, 20))) == 56  # before Mongolia
    assert len(participating_on(date(2006, 6, 21))) == 55  # before Montenegro
    assert "RS" not in participating_on(date(1995, 1, 1))


def test_every_fact_has_a_source_and_unconfirmed_ones_say_so():
    [declaration] = osce.coopreg_partners()
    for fact in declaration.facts:
        assert fact.source
        assert fact.valid_from is not None  # every admission date is recorded
        if not fact.confirmed:
            assert "not confirmed" in fact.note.lower()
    confirmed = {f.value: f.valid_from for f in declaration.facts if f.confirmed}
    assert confirmed == {"MN": date(2012, 11, 21), "ME": date(2006, 6, 22)}


def test_yugoslavia_serbia_is_modelled_with_its_suspension_unconfirmed():
    [declaration] = osce.coopreg_partners()
    serbia = sorted((f for f in declaration.facts if f.value == "RS"),
                    key=lambda f: f.valid_from)
    assert [(f.valid_from, f.valid_to) for f in serbia] == [
        (date(1973, 6, 25), date(1992, 7, 8)), (date(2000, 11, 10), None)]
    assert not any(f.confirmed for f in serbia)
    assert "only the month" in serbia[0].note and "month only" in serbia[1].note


# -- osce.participating-state ------------------------------------------------------------

@pytest.mark.parametrize(("country", "before", "on"), [
    ("MN", "2012-11-20", "2012-11-21"),
    ("ME", "2006-06-21", "2006-06-22"),
])
def test_admission_day_is_the_boundary(registry, country, before, on):
    refused = assert_finding(odihr(registry, [country], before), STATE, severity="error",
                             field="countries[0]")
    assert before in refused.message
    assert f"became a participating State on {on}" in refused.message
    assert refused.plugin == "osce"
    assert_no_finding(odihr(registry, [country], on), STATE)


def test_mongolia_message_names_country_date_and_reason(registry):
    refused = assert_finding(odihr(registry, ["MN"], "2012-11-20"), STATE)
    assert refused.message.startswith("Mongolia (MN) was not an OSCE participating State on "
                                      "2012-11-20: Mongolia became a participating State on "
                                      "2012-11-21;")


def test_an_unconfirmed_admission_date_says_so(registry):
    refused = assert_finding(odihr(registry, ["SI"], "1992-03-23"), STATE)
    assert "1992-03-24 (date not confirmed)" in refused.message
    assert_no_finding(odihr(registry, ["SI"], "1992-03-24"), STATE)


@pytest.mark.parametrize(("day", "refused"), [
    ("1992-07-07", False),  # the last day before the suspension
    ("1992-07-08", True),
    ("1996-05-01", True),   # during the suspension
    ("2000-11-09", True),
    ("2000-11-10", False),  # admitted again (FRY)
    ("2014-06-12", False),
])
def test_serbia_during_and_after_the_suspension(registry, day, refused):
    found = only(odihr(registry, ["RS"], day), STATE)
    assert bool(found) == refused
    if refused:
        assert "suspended" in found[0].message
        assert "became a participating State again on 2000-11-10" in found[0].message


def test_a_partner_for_co_operation_is_not_a_participating_state(registry):
    refused = assert_finding(odihr(registry, ["JP"], "2014-06-12"), STATE, severity="error")
    assert "Japan" in refused.message
    assert "Asian Partner for Co-operation" in refused.message


def test_a_country_outside_the_osce_is_refused(registry):
    refused = assert_finding(odihr(registry, ["BR"], "2014-06-12"), STATE)
    assert "BR" in refused.message


def test_kosovo_is_not_a_participating_state(registry):
    # XK is in the southern Europe field region but the rule asks for participating States
    assert_finding(odihr(registry, ["XK"], "2014-06-12"), STATE, severity="error")


def test_an_action_without_odihr_is_not_judged(registry):
    found = findings_of(registry, reporting_partner="ohchr", partners=["ohchr", "un-desa"],
                        countries=["JP"], occurred_on="2012-11-20")
    assert not [f for f in found if f.rule.startswith("osce.")]


def test_odihr_as_counterpart_is_enough_to_be_judged(registry):
    # the default action is reported by OHCHR with ODIHR as counterpart
    assert_finding(findings_of(registry, countries=["JP"]), STATE)


def test_each_country_is_judged_and_named_by_index(registry):
    found = only(odihr(registry, ["AT", "JP", "UA", "MN"], "2012-11-01"), STATE)
    assert [f.field for f in found] == ["countries[1]", "countries[3]"]


@pytest.mark.parametrize(("period", "refused_on"), [
    ({"start": "2012-11-01", "end": "2012-11-30"}, "2012-11-01"),  # spans the admission
    ({"start": "2012-11-21", "end": "2012-11-30"}, None),
    ({"start": "2012-11-19", "end": "2012-11-20"}, "2012-11-19"),
])
def test_a_period_is_judged_on_every_day(registry, period, refused_on):
    found = only(odihr(registry, ["MN"], period), STATE)
    if refused_on is None:
        assert not found
    else:
        assert len(found) == 1 and f"on {refused_on}:" in found[0].message


@pytest.mark.parametrize(("period", "refused_on"), [
    ({"start": "1992-07-01", "end": "1992-07-07"}, None),
    ({"start": "1992-07-01", "end": "1992-07-08"}, "1992-07-08"),  # runs into the suspension
    ({"start": "1991-01-01", "end": "2001-01-01"}, "1992-07-08"),  # spans all of it
    ({"start": "2000-11-10", "end": "2001-01-01"}, None),
])
def test_a_period_running_into_the_suspension_is_refused(registry, period, refused_on):
    found = only(odihr(registry, ["RS"], period), STATE)
    assert [f"on {refused_on}:" in f.message for f in found] == ([True] if refused_on else [])


def test_an_error_refuses_the_command_and_records_nothing(registry):
    with pytest.raises(RuleViolation) as refused:
        record(registry, **ODIHR, countries=["MN"], occurred_on="2012-11-20")
    assert [p.rule for p in refused.value.problems] == [STATE]
    assert registry.queries.actions().items == []
    record(registry, **ODIHR, countries=["MN"], occurred_on="2012-11-21")
    assert [a["countries"] for a in registry.queries.actions().items] == [["MN"]]


# -- osce.upr-contribution ---------------------------------------------------------------

UPR_ACTION = {**ODIHR, "kind": "upr_contribution", "countries": ["MD"],
              "occurred_on": "2021-10-04", "themes": ["implementation-of-recommendations"]}


def test_upr_contribution_naming_the_upr_is_clean(registry):
    assert findings_of(registry, **UPR_ACTION, mechanisms=["upr"]) == []


def test_upr_contribution_without_the_upr_is_warned(registry):
    warned = assert_finding(findings_of(registry, **UPR_ACTION, mechanisms=[]), UPR,
                            severity="warning", field="mechanisms")
    assert "'upr'" in warned.message
    assert_finding(findings_of(registry, **UPR_ACTION, mechanisms=["ccpr"]), UPR,
                   field="mechanisms")


def test_upr_contribution_reported_by_someone_else_is_warned(registry):
    found = findings_of(registry, **{**UPR_ACTION, "reporting_partner": "ohchr",
                                     "partners": ["ohchr", "osce-odihr"]}, mechanisms=["upr"])
    assert_finding(found, UPR, severity="warning", field="reporting_partner")
    assert [f.field for f in only(found, UPR)] == ["reporting_partner"]


def test_other_kinds_are_not_upr_contributions(registry):
    assert_no_finding(findings_of(registry, **ODIHR, kind="submission_to_mechanism",
                                  mechanisms=[]), UPR)


def test_a_warning_rides_along_with_the_recorded_action(registry):
    receipt = record(registry, **UPR_ACTION, mechanisms=[])
    assert [(w["rule"], w["field"]) for w in receipt.warnings] == [(UPR, "mechanisms")]


# -- osce.field-region -------------------------------------------------------------------

@pytest.mark.parametrize(("theme", "countries"), [
    ("field-central-asia", ["KZ", "KG", "TJ", "TM", "UZ"]),
    ("field-south-caucasus", ["AM", "AZ", "GE"]),
    ("field-eastern-europe", ["BY", "MD", "UA"]),
    ("field-southern-europe", ["AL", "BA", "ME", "MK", "RS"]),
    ("field-ukraine", ["UA"]),
])
def test_a_region_with_its_own_countries_is_clean(registry, theme, countries):
    assert_no_finding(odihr(registry, countries, "2014-06-12", themes=[theme]), REGION)


def test_kosovo_belongs_to_southern_europe():
    assert "XK" in osce.DATA.regions["field-southern-europe"].countries


def test_a_country_outside_the_region_is_warned(registry):
    found = only(odihr(registry, ["KZ", "PL"], "2014-06-12",
                       themes=["human-rights", "field-central-asia"]), REGION)
    assert [(f.severity, f.field) for f in found] == [("warning", "countries[1]")]
    assert "Poland" in found[0].message and "field-central-asia" in found[0].message


def test_a_region_theme_with_none_of_its_countries_is_warned(registry):
    found = only(odihr(registry, ["PL"], "2014-06-12", themes=["field-ukraine"]), REGION)
    assert sorted(f.field for f in found) == ["countries[0]", "themes[0]"]


def test_a_region_theme_without_countries_is_warned(registry):
    found = only(odihr(registry, [], "2014-06-12", themes=["field-south-caucasus"]), REGION)
    assert [f.field for f in found] == ["themes[0]"]


def test_two_region_themes_allow_the_countries_of_both(registry):
    assert_no_finding(odihr(registry, ["KZ", "AM"], "2014-06-12",
                            themes=["field-central-asia", "field-south-caucasus"]), REGION)
    found = only(odihr(registry, ["KZ"], "2014-06-12",
                       themes=["field-central-asia", "field-south-caucasus"]), REGION)
    assert [f.field for f in found] == ["themes[1]"]


def test_actions_without_region_themes_are_not_judged(registry):
    assert_no_finding(odihr(registry, ["PL"], "2014-06-12", themes=["democracy"]), REGION)


# -- vocabulary and rules ----------------------------------------------------------------

def test_the_plugin_adds_only_words_the_core_lacks():
    words = osce.coopreg_vocabulary()
    assert set(words.action_kinds) == {"upr_contribution"}
    assert set(words.themes) == {"implementation-of-recommendations", "field-central-asia",
                                 "field-south-caucasus", "field-eastern-europe",
                                 "field-southern-europe", "field-ukraine"}
    assert not set(words.themes) & CORE_VOCABULARY.themes
    assert not set(words.action_kinds) & CORE_VOCABULARY.action_kinds
    assert all(words.themes.values()) and all(words.action_kinds.values())


def test_region_members_are_known_country_codes():
    for region in osce.DATA.regions.values():
        assert region.countries <= COUNTRIES


def test_rules_are_declared_with_severity_and_source():
    rules = {r.id: r for r in osce.coopreg_rules()}
    assert {k: r.severity for k, r in rules.items()} == {
        STATE: "error", UPR: "warning", REGION: "warning"}
    assert "57 OSCE participating States" in rules[STATE].source
    assert "Universal Periodic Review" in rules[UPR].source
    assert "field presences" in rules[REGION].source


def test_the_words_are_accepted_with_the_plugin(registry):
    receipt = record(registry, **{**UPR_ACTION, "mechanisms": ["upr"], "themes": [
        "implementation-of-recommendations", "field-eastern-europe"]})
    assert receipt.warnings == ()
    [recorded] = registry.queries.actions().items
    assert recorded["kind"] == "upr_contribution"


def test_without_the_plugin_the_kind_is_refused(coopreg_registry):
    bare = coopreg_registry()
    with pytest.raises(ValidationFailed) as refused:
        record(bare, **UPR_ACTION, mechanisms=["upr"])
    rules = {p.rule for p in refused.value.problems}
    assert "action.kind" in rules
    assert "action.theme" in rules
