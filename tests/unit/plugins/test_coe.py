"""The Council of Europe plugin: its dated facts, its words, and its three rules, each tested
on both sides of every date it turns on."""

from __future__ import annotations

from datetime import date

import pytest

from plugins import coe
from registry.domain import ValidationFailed
from registry.domain.vocabulary import MECHANISMS, THEMES
from registry.rules import RuleViolation
from registry.testing import (
    TODAY,
    assert_finding,
    assert_no_finding,
    findings_of,
    host_with,
    record,
)

COE = ("coe", coe)
# An action the Council of Europe takes part in (reported by it, with OHCHR).
WITH_COE = {"partners": ["coe", "ohchr"], "reporting_partner": "coe"}

# domain-facts.md: the 57 OSCE participating States; the Council of Europe's 46 are these
# minus the eleven below.
OSCE_57 = {
    "AL", "AD", "AM", "AT", "AZ", "BY", "BE", "BA", "BG", "CA", "HR", "CY", "CZ", "DK", "EE",
    "FI", "FR", "GE", "DE", "GR", "VA", "HU", "IS", "IE", "IT", "KZ", "KG", "LV", "LI", "LT",
    "LU", "MT", "MD", "MC", "MN", "ME", "NL", "MK", "NO", "PL", "PT", "RO", "RU", "SM", "RS",
    "SK", "SI", "ES", "SE", "CH", "TJ", "TR", "TM", "UA", "GB", "US", "UZ"}
NOT_COE = {"BY", "CA", "VA", "KZ", "KG", "MN", "RU", "TJ", "TM", "US", "UZ"}
FOUNDERS = {"BE", "DK", "FR", "IE", "IT", "LU", "NL", "NO", "SE", "GB"}


@pytest.fixture
def registry(coopreg_registry):
    return coopreg_registry(COE)


def facts(subject: str, value: str):
    return coe.facts_about(subject, value)


# -- the dated facts -----------------------------------------------------------------


def test_declares_the_council_of_europe_in_strasbourg():
    [declaration] = coe.coopreg_partners()
    assert declaration.partner_id == "coe"
    assert declaration.name == "Council of Europe"
    [seat] = [f for f in declaration.facts if f.subject == "seat"]
    assert seat.value == "Strasbourg" and "Article 11" in seat.source
    assert "earlier similar model for collaboration was established with the Council of " \
        "Europe" in coe.PARTNER_SOURCE


def test_every_fact_has_a_source_and_unconfirmed_facts_say_why():
    for fact in coe.FACTS:
        assert fact.source, fact
        if not fact.confirmed:
            assert fact.note, fact


def test_exactly_46_member_states_today_the_osce_57_minus_11():
    members_today = [f for f in coe.FACTS if f.subject == "member-state" and f.holds_on(TODAY)]
    assert len(members_today) == 46
    assert coe.member_states(TODAY) == OSCE_57 - NOT_COE
    assert len(OSCE_57) == 57


def test_founders_and_accessions_as_listed():
    founders = coe.member_states(date(1949, 5, 5))
    assert founders == FOUNDERS
    assert coe.member_states(date(1949, 8, 9)) == founders | {"GR", "TR"}
    assert [(f.valid_from, f.note) for f in facts("member-state", "RS")] == [
        (date(2003, 4, 3), "joined as Serbia and Montenegro")]
    assert facts("member-state", "ME")[0].valid_from == date(2007, 5, 11)


def test_turkey_date_unconfirmed_with_the_alternative_in_the_note():
    [tr] = facts("member-state", "TR")
    assert tr.valid_from == date(1949, 8, 9)
    assert tr.confirmed is False
    assert "1950-04-13" in tr.note


def test_greece_withdrew_and_rejoined_two_facts():
    first, second = facts("member-state", "GR")
    assert (first.valid_from, first.valid_to) == (date(1949, 8, 9), date(1969, 12, 12))
    assert (second.valid_from, second.valid_to) == (date(1974, 11, 28), None)


def test_russia_membership_suspension_and_convention():
    [member] = facts("member-state", "RU")
    assert (member.valid_from, member.valid_to) == (date(1996, 2, 28), date(2022, 3, 16))
    assert "CM/Res(2022)2" in member.source
    [suspended] = facts("representation-suspended", "RU")
    assert suspended.valid_from == date(2022, 2, 25)
    assert suspended.holds_on(date(2022, 3, 15)) and not suspended.holds_on(date(2022, 3, 16))
    [party] = facts("echr-party", "RU")
    assert (party.valid_from, party.valid_to) == (date(1996, 2, 28), date(2022, 9, 16))
    assert party.confirmed


def test_convention_parties_follow_membership_except_russia():
    members = {(f.value, f.valid_from, f.valid_to) for f in coe.FACTS
               if f.subject == "member-state" and f.value != "RU"}
    parties = {(f.value, f.valid_from, f.valid_to) for f in coe.FACTS
               if f.subject == "echr-party" and f.value != "RU"}
    assert parties == members
    # no ratification dates in the sources: membership dates stand in, and say so
    assert all(not f.confirmed for f in coe.FACTS
               if f.subject == "echr-party" and f.value != "RU")


def test_observers_and_applicants():
    observers = {f.value for f in coe.FACTS if f.subject == "observer"}
    assert observers == {"VA", "US", "CA", "JP", "MX"}
    [belarus] = facts("applicant", "BY")
    assert "special guest status suspended" in belarus.note
    [kosovo] = facts("applicant", "XK")
    assert kosovo.valid_from == date(2022, 5, 12)
    assert kosovo.confirmed is False and "final decision not confirmed" in kosovo.note
    assert not observers & coe.member_states(TODAY)
    assert not {"BY", "XK"} & coe.member_states(TODAY)


def test_the_host_lists_the_plugin_its_partner_rules_and_words():
    [described] = host_with(COE).describe()
    assert described["partners"] == ["coe"]
    assert {(r["id"], r["severity"]) for r in described["rules"]} == {
        ("coe.member-state", "error"), ("coe.echr-party", "error"),
        ("coe.body-mechanism", "warning")}
    assert all(r["source"] for r in described["rules"])
    assert described["vocabulary"]["action_kinds"] == [
        "coordination_group_meeting", "high_level_meeting", "tripartite_meeting"]


# -- vocabulary ------------------------------------------------------------------------


def test_contributes_only_words_the_core_lacks():
    words = coe.coopreg_vocabulary()
    assert set(words.mechanisms) == {
        "ecthr", "committee-of-ministers", "ecri", "cpt", "ecsr", "acfc", "greta", "grevio",
        "greco", "venice-commission", "coe-commissioner"}
    assert set(words.themes) == {"terrorism", "national-minorities",
                                 "tolerance-and-non-discrimination"}
    assert "combating-trafficking" in THEMES  # the Declaration's fourth area is core's
    assert not set(words.themes) & THEMES
    assert not set(words.mechanisms) & MECHANISMS
    assert all(words.mechanisms.values()) and all(words.action_kinds.values())


def test_new_words_are_accepted_with_the_plugin(registry):
    receipt = record(registry, reporting_partner="coe",
                     partners=["coe", "ohchr", "osce-odihr"], kind="tripartite_meeting",
                     mechanisms=["ecri"],
                     themes=["tolerance-and-non-discrimination", "terrorism",
                             "national-minorities"], occurred_on="2014-06-12")
    assert receipt.warnings == ()
    for kind in ("coordination_group_meeting", "high_level_meeting"):
        record(registry, **WITH_COE, kind=kind, mechanisms=[])


def test_new_words_are_refused_without_the_plugin(coopreg_registry):
    plain = coopreg_registry()
    with pytest.raises(ValidationFailed) as refused:
        record(plain, **WITH_COE, kind="tripartite_meeting", mechanisms=["ecri"])
    rules = {p.rule for p in refused.value.problems}
    assert {"action.kind", "action.mechanism"} <= rules


# -- coe.member-state ---------------------------------------------------------------------


@pytest.mark.parametrize(("country", "day", "member"), [
    ("RU", "1996-02-27", False), ("RU", "1996-02-28", True),
    ("RU", "2022-02-25", True),  # representation suspended, still a member
    ("RU", "2022-03-15", True), ("RU", "2022-03-16", False),
    ("GR", "1969-12-11", True), ("GR", "1969-12-12", False),
    ("GR", "1974-11-27", False), ("GR", "1974-11-28", True),
    ("ME", "2007-05-10", False), ("ME", "2007-05-11", True),
    ("TR", "1949-08-08", False), ("TR", "1949-08-09", True),
    ("FR", "1949-05-04", False), ("FR", "1949-05-05", True),
    ("UA", "2014-06-12", True),
])
def test_member_state_on_the_action_date(registry, country, day, member):
    findings = findings_of(registry, **WITH_COE, countries=[country], occurred_on=day)
    if member:
        assert_no_finding(findings, "coe.member-state")
    else:
        finding = assert_finding(findings, "coe.member-state", severity="error",
                                 field="countries[0]")
        assert country in finding.message and day in finding.message
        assert finding.source


def test_russia_message_names_the_date_it_ceased(registry):
    finding = assert_finding(findings_of(registry, **WITH_COE, countries=["RU"],
                                         occurred_on="2022-03-16"), "coe.member-state")
    assert "RU ceased to be a member of the Council of Europe on 2022-03-16" in finding.message
    assert "CM/Res(2022)2" in finding.source


def test_greece_message_names_the_gap(registry):
    finding = assert_finding(findings_of(registry, **WITH_COE, countries=["GR"],
                                         occurred_on="1972-04-21"), "coe.member-state")
    assert "GR was not a member between 1969-12-12 and 1974-11-28" in finding.message
    assert "1972-04-21" in finding.message


def test_montenegro_message_names_its_accession(registry):
    finding = assert_finding(findings_of(registry, **WITH_COE, countries=["ME"],
                                         occurred_on="2007-05-10"), "coe.member-state")
    assert "ME became a member of the Council of Europe only on 2007-05-11" in finding.message


def test_turkey_message_says_its_date_is_not_confirmed(registry):
    finding = assert_finding(findings_of(registry, **WITH_COE, countries=["TR"],
                                         occurred_on="1949-06-01"), "coe.member-state")
    assert "1950-04-13" in finding.message


@pytest.mark.parametrize(("start", "end", "day"), [
    ("1969-12-01", "1969-12-31", "1969-12-12"),   # ends inside the gap
    ("1974-11-01", "1974-12-31", "1974-11-01"),   # starts inside the gap
    ("1969-01-01", "1975-01-01", "1969-12-12"),   # a member at both ends, not in between
])
def test_every_day_of_a_period_counts(registry, start, end, day):
    finding = assert_finding(
        findings_of(registry, **WITH_COE, countries=["GR"],
                    occurred_on={"start": start, "end": end}), "coe.member-state")
    assert f"was not a member State on {day}" in finding.message


def test_a_period_within_membership_passes(registry):
    findings = findings_of(registry, **WITH_COE, countries=["GR", "RU"],
                           occurred_on={"start": "1996-03-01", "end": "2022-03-15"})
    assert_no_finding(findings, "coe.member-state")


def test_observer_is_not_a_member(registry):
    findings = findings_of(registry, **WITH_COE, countries=["FR", "US"])
    finding = assert_finding(findings, "coe.member-state", field="countries[1]")
    assert "US is an observer, not a member" in finding.message
    assert len([f for f in findings if f.rule == "coe.member-state"]) == 1


def test_kosovo_is_an_applicant_not_a_member(registry):
    finding = assert_finding(findings_of(registry, **WITH_COE, countries=["XK"],
                                         occurred_on="2023-01-10"), "coe.member-state")
    assert "XK is an applicant, not a member" in finding.message
    assert "final decision not confirmed" in finding.message
    before = assert_finding(findings_of(registry, **WITH_COE, countries=["XK"],
                                        occurred_on="2021-01-10"), "coe.member-state")
    assert "XK has never been a member of the Council of Europe" in before.message


def test_belarus_is_an_applicant_not_a_member(registry):
    finding = assert_finding(findings_of(registry, **WITH_COE, countries=["BY"]),
                             "coe.member-state")
    assert "BY is an applicant, not a member (special guest status suspended)" in (
        finding.message)


def test_action_not_involving_coe_is_not_judged_on_membership(registry):
    findings = findings_of(registry, countries=["US"], mechanisms=["upr"])
    assert_no_finding(findings, "coe.member-state")
    assert findings == []


def test_a_non_member_refuses_the_record_and_records_nothing(registry):
    with pytest.raises(RuleViolation) as refused:
        record(registry, **WITH_COE, countries=["RU"], occurred_on="2022-03-16")
    assert [p.rule for p in refused.value.problems] == ["coe.member-state"]
    registry.follower.catch_up()
    assert registry.queries.actions().items == []
    receipt = record(registry, **WITH_COE, countries=["RU"], occurred_on="2022-03-15")
    assert receipt.warnings == ()


# -- coe.echr-party -------------------------------------------------------------------


@pytest.mark.parametrize(("day", "party"), [
    ("2022-03-16", True),   # no longer a member, still a party
    ("2022-09-15", True), ("2022-09-16", False), ("2023-05-01", False),
])
def test_russia_and_the_court_whoever_reports(registry, day, party):
    # reported by OHCHR with ODIHR: the Council of Europe is not involved
    findings = findings_of(registry, countries=["RU"], mechanisms=["ecthr"], occurred_on=day)
    assert_no_finding(findings, "coe.member-state")
    if party:
        assert_no_finding(findings, "coe.echr-party")
    else:
        finding = assert_finding(findings, "coe.echr-party", severity="error",
                                 field="countries[0]")
        assert ("RU ceased to be a party to the European Convention on Human Rights on "
                "2022-09-16") in finding.message
        assert day in finding.message


def test_russia_with_the_court_and_the_council_between_expulsion_and_convention(registry):
    findings = findings_of(registry, **WITH_COE, countries=["RU"], mechanisms=["ecthr"],
                           occurred_on="2022-09-15")
    assert_finding(findings, "coe.member-state", severity="error")
    assert_no_finding(findings, "coe.echr-party")


def test_court_only_for_parties(registry):
    findings = findings_of(registry, **WITH_COE, countries=["UA", "US"],
                           mechanisms=["ecthr"])
    finding = assert_finding(findings, "coe.echr-party", field="countries[1]")
    assert "US has never been a party" in finding.message
    assert len([f for f in findings if f.rule == "coe.echr-party"]) == 1


def test_greece_and_the_court_across_its_absence(registry):
    assert_finding(findings_of(registry, **WITH_COE, countries=["GR"], mechanisms=["ecthr"],
                               occurred_on="1974-11-27"), "coe.echr-party")
    assert_no_finding(findings_of(registry, **WITH_COE, countries=["GR"],
                                  mechanisms=["ecthr"], occurred_on="1974-11-28"),
                      "coe.echr-party")


def test_court_message_says_membership_date_stands_in(registry):
    finding = assert_finding(findings_of(registry, **WITH_COE, countries=["ME"],
                                         mechanisms=["ecthr"], occurred_on="2007-05-10"),
                             "coe.echr-party")
    assert "not confirmed" in finding.message


def test_other_bodies_are_not_limited_to_convention_parties(registry):
    # the Committee of Ministers still supervises the execution of judgments against Russia
    findings = findings_of(registry, countries=["RU"], mechanisms=["committee-of-ministers"],
                           occurred_on="2023-05-01")
    assert_no_finding(findings, "coe.echr-party")


def test_recording_the_court_for_a_former_party_is_refused(registry):
    with pytest.raises(RuleViolation) as refused:
        record(registry, countries=["RU"], mechanisms=["ecthr"], occurred_on="2022-09-16")
    assert "coe.echr-party" in {p.rule for p in refused.value.problems}


# -- coe.body-mechanism ---------------------------------------------------------------


@pytest.mark.parametrize("mechanism", sorted(coe.BODY_MECHANISMS))
def test_body_without_the_council_is_a_warning(registry, mechanism):
    findings = findings_of(registry, countries=["FR"], mechanisms=[mechanism, "upr"])
    finding = assert_finding(findings, "coe.body-mechanism", severity="warning",
                             field="partners")
    assert mechanism in finding.message
    assert "CoE bodies are serviced by the Council of Europe" in finding.message


def test_body_with_the_council_is_fine(registry):
    findings = findings_of(registry, **WITH_COE, countries=["FR"], mechanisms=["greta"])
    assert findings == []


def test_one_warning_names_every_body(registry):
    findings = findings_of(registry, countries=["FR"], mechanisms=["greta", "grevio"])
    [finding] = [f for f in findings if f.rule == "coe.body-mechanism"]
    assert "'greta'" in finding.message and "'grevio'" in finding.message


def test_un_mechanisms_alone_are_not_flagged(registry):
    assert findings_of(registry, countries=["FR"], mechanisms=["upr", "cedaw"]) == []


def test_a_warning_is_recorded_with_the_action(registry):
    receipt = record(registry, countries=["FR"], mechanisms=["ecri"])
    assert [w["rule"] for w in receipt.warnings] == ["coe.body-mechanism"]
    assert receipt.warnings[0]["plugin"] == "coe"


# -- the helper the rules share -----------------------------------------------------------


def test_first_day_without():
    gr = facts("member-state", "GR")
    assert coe.first_day_without(gr, date(1960, 1, 1), date(1960, 1, 1)) is None
    assert coe.first_day_without(gr, date(1969, 12, 11), date(1969, 12, 12)) == date(
        1969, 12, 12)
    assert coe.first_day_without(gr, date(1974, 11, 28), date(2026, 11, 1)) is None
    assert coe.first_day_without((), date(2000, 1, 1), date(2000, 1, 2)) == date(2000, 1, 1)
