"""The UN DESA plugin: its facts, its rules on both sides of every boundary, and its
schedule of per-session commitments by the sessions of the Conference of States Parties."""

from __future__ import annotations

import inspect
import re
from datetime import date
from pathlib import Path

import pytest

from plugins import desa
from registry import compliance
from registry.domain import Commitment, DueRule, Source
from registry.rules import AgreementSnapshot
from registry.schemas import load_command
from registry.testing import (
    assert_finding,
    assert_no_finding,
    findings_of,
    host_with,
    record,
)

SEEDS = Path(__file__).resolve().parents[4] / "shared" / "seeds"
SIGNED = date(2007, 11, 9)

# An action between the two departments on the Convention, to override.
BETWEEN = {"partners": ["ohchr", "un-desa"], "themes": ["rights-of-persons-with-disabilities"],
           "countries": ["US"], "mechanisms": ["crpd-cosp"], "occurred_on": "2012-10-09"}


def between(**overrides: object) -> dict[str, object]:
    data = dict(BETWEEN)
    if overrides.get("reporting_partner") == "un-desa":
        data["partners"] = ["un-desa", "ohchr"]
    data.update(overrides)
    return data


@pytest.fixture
def registry(coopreg_registry):
    return coopreg_registry(("desa", desa))


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# -- the seed and the data ---------------------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> str:
    path = SEEDS / desa.SEED
    if not path.is_file():
        pytest.skip(f"seed document not found at {path}")
    return words(path.read_text("utf-8"))


QUOTES = [name for name in dir(desa) if name.startswith("Q_")]


@pytest.mark.parametrize("name", QUOTES)
def test_every_quoted_sentence_is_in_the_seed(seed, name):
    assert words(getattr(desa, name)) in seed


@pytest.mark.parametrize("rule, quotes", [
    (desa.servicing, [desa.Q_SERVICING]),
    (desa.outputs_direction, [desa.Q_COMMITTEE_OUTPUTS, desa.Q_COSP_INFORMATION]),
    (desa.new_york_office, [desa.Q_NEW_YORK_OFFICE]),
    (desa.committee_election, [desa.Q_ELECTION]),
    (desa.coopreg_related_actions, [desa.Q_AVOID_DUPLICATION, desa.Q_BOTH_DEPARTMENTS]),
    (desa.coopreg_obligations, [desa.Q_STAFF_AT_COSP]),
])
def test_each_rule_quotes_its_seed_sentence(rule, quotes):
    for quote in quotes:
        assert words(quote) in words(inspect.getdoc(rule)), rule.__name__


def test_every_rule_cites_the_seed():
    assert {r.id for r in desa.coopreg_rules()} == {
        "desa.servicing", "desa.outputs-direction", "desa.new-york-office",
        "desa.committee-election", "desa.avoid-duplication", "desa.staff-at-cosp"}
    for rule in desa.coopreg_rules():
        assert rule.source.startswith(f'{desa.SEED}: "'), rule.id
        assert rule.severity == "warning", rule.id


def test_un_desa_is_declared_with_the_sessions_of_the_conference():
    (declaration,) = desa.coopreg_partners()
    assert declaration.partner_id == "un-desa"
    assert "Division for Social Policy and Development" in declaration.name
    sessions = [f for f in declaration.facts if f.subject == "cosp-session"]
    assert [f.value for f in sessions] == [f"cosp-{n}" for n in range(1, 19)]
    first, last = sessions[0], sessions[-1]
    assert (first.valid_from, first.valid_to) == (date(2008, 10, 31), date(2008, 11, 4))
    assert (last.valid_from, last.valid_to) == (date(2025, 6, 10), date(2025, 6, 13))
    assert last.confirmed and "COSP18 was held 2025-06-10/12" in last.source
    for fact in sessions[:-1]:  # domain-facts.md states only COSP18's dates
        assert not fact.confirmed, fact.value
        assert fact.note.startswith("dates from memory, not confirmed"), fact.value
    assert [(f.value, f.valid_from) for f in sessions[1:3]] == [
        ("cosp-2", date(2009, 9, 2)), ("cosp-3", date(2010, 9, 1))]


def test_a_session_fact_holds_from_its_first_to_its_last_day():
    cosp1 = desa.SESSIONS[0].fact()
    assert not cosp1.holds_on(date(2008, 10, 30))
    assert cosp1.holds_on(date(2008, 10, 31))
    assert cosp1.holds_on(date(2008, 11, 3))
    assert not cosp1.holds_on(date(2008, 11, 4))


def test_sessions_are_annual_and_in_order():
    years = [s.first_day.year for s in desa.SESSIONS]
    assert years == list(range(2008, 2026))
    assert all(s.first_day <= s.last_day for s in desa.SESSIONS)
    assert all(s.note or s.confirmed for s in desa.SESSIONS)


def test_servicing_division_is_data_applied_as_of_a_date():
    assert desa.servicing_partner("crpd-cosp", SIGNED) == "un-desa"
    assert desa.servicing_partner("crpd", SIGNED) == "ohchr"
    assert desa.servicing_partner("crpd", date(2007, 11, 8)) is None
    assert desa.servicing_partner("upr", SIGNED) is None
    (declaration,) = desa.coopreg_partners()
    services = [f for f in declaration.facts if f.subject == "services"]
    assert [(f.value, f.valid_from) for f in services] == [("crpd-cosp", SIGNED)]


def test_vocabulary_adds_the_three_action_kinds(registry):
    assert set(desa.coopreg_vocabulary().action_kinds) == {
        "inter_agency_meeting", "session_serviced", "committee_election_organized"}
    receipt = record(registry, **between(kind="inter_agency_meeting"))
    assert receipt.warnings == ()


def test_without_the_plugin_the_kinds_are_unknown(coopreg_registry):
    bare = coopreg_registry()
    with pytest.raises(Exception, match="inter_agency_meeting"):
        record(bare, **between(kind="inter_agency_meeting"))


# -- desa.servicing ------------------------------------------------------------------------


@pytest.mark.parametrize("reporter, mechanism, flagged", [
    ("un-desa", "crpd-cosp", False),
    ("un-desa", "crpd", True),
    ("ohchr", "crpd", False),
    ("ohchr", "crpd-cosp", True),
])
def test_servicing_each_body_by_each_department(registry, reporter, mechanism, flagged):
    findings = findings_of(registry, **between(reporting_partner=reporter,
                                               kind="session_serviced",
                                               mechanisms=[mechanism]))
    if flagged:
        finding = assert_finding(findings, "desa.servicing", severity="warning",
                                 field="mechanisms[0]")
        assert desa.Q_SERVICING in finding.source
        assert finding.plugin == "desa"
    else:
        assert_no_finding(findings, "desa.servicing")


def test_servicing_names_the_wrong_body_among_several(registry):
    findings = findings_of(registry, **between(reporting_partner="un-desa",
                                               kind="session_serviced",
                                               mechanisms=["crpd-cosp", "crpd"]))
    assert [f.field for f in findings if f.rule == "desa.servicing"] == ["mechanisms[1]"]


def test_servicing_concerns_only_the_two_departments_and_that_kind(registry):
    assert_no_finding(findings_of(registry, reporting_partner="osce-odihr",
                                  partners=["osce-odihr", "ohchr"], kind="session_serviced",
                                  mechanisms=["crpd"]), "desa.servicing")
    assert_no_finding(findings_of(registry, **between(reporting_partner="ohchr",
                                                      kind="meeting_attended",
                                                      mechanisms=["crpd-cosp"])),
                      "desa.servicing")


def test_servicing_applies_from_the_date_of_the_programme(registry):
    before = findings_of(registry, **between(reporting_partner="ohchr", kind="session_serviced",
                                             occurred_on="2007-11-08"))
    on = findings_of(registry, **between(reporting_partner="ohchr", kind="session_serviced",
                                         occurred_on="2007-11-09"))
    assert_no_finding(before, "desa.servicing")
    assert_finding(on, "desa.servicing")


# -- desa.outputs-direction --------------------------------------------------------------


@pytest.mark.parametrize("reporter, kind, mechanism, flagged", [
    ("ohchr", "outputs_transmitted", "crpd", False),  # Committee outputs: OHCHR -> DESA
    ("un-desa", "outputs_transmitted", "crpd", True),
    ("un-desa", "outputs_transmitted", "crpd-cosp", False),  # Conference: DESA -> OHCHR
    ("ohchr", "outputs_transmitted", "crpd-cosp", True),
    ("un-desa", "information_shared", "crpd-cosp", False),
    ("ohchr", "information_shared", "crpd-cosp", True),
    ("un-desa", "information_shared", "crpd", False),  # only outputs of the Committee
])
def test_outputs_direction_both_ways(registry, reporter, kind, mechanism, flagged):
    findings = findings_of(registry, **between(reporting_partner=reporter, kind=kind,
                                               mechanisms=[mechanism], countries=[]))
    if flagged:
        finding = assert_finding(findings, "desa.outputs-direction", severity="warning",
                                 field="reporting_partner")
        expected = desa.Q_COMMITTEE_OUTPUTS if mechanism == "crpd" else desa.Q_COSP_INFORMATION
        assert expected in finding.source
    else:
        assert_no_finding(findings, "desa.outputs-direction")


def test_outputs_direction_judges_only_exchanges_between_the_two(registry):
    # OHCHR sends Committee outputs to ODIHR: not the DESA channel, not judged here.
    assert_no_finding(findings_of(registry, reporting_partner="ohchr",
                                  partners=["ohchr", "osce-odihr"], kind="outputs_transmitted",
                                  mechanisms=["crpd-cosp"]), "desa.outputs-direction")
    # OHCHR's draft rules of procedure for the election concern both bodies: no direction.
    assert_no_finding(findings_of(registry, **between(kind="information_shared",
                                                      mechanisms=["crpd", "crpd-cosp"])),
                      "desa.outputs-direction")


# -- desa.new-york-office ------------------------------------------------------------------


@pytest.mark.parametrize("countries, flagged", [
    (["US"], False), (["CH"], True), (["CH", "US"], False), ([], True)])
def test_new_york_office_represents_ohchr(registry, countries, flagged):
    findings = findings_of(registry, **between(kind="consultation", countries=countries))
    if flagged:
        finding = assert_finding(findings, "desa.new-york-office", severity="warning",
                                 field="countries")
        assert desa.Q_NEW_YORK_OFFICE in finding.source
    else:
        assert_no_finding(findings, "desa.new-york-office")


@pytest.mark.parametrize("overrides", [
    {"reporting_partner": "un-desa"},
    {"kind": "meeting_attended"},
    {"mechanisms": ["crpd"]},
])
def test_new_york_office_only_for_ohchr_consultations_on_the_conference(registry, overrides):
    data = between(**{"kind": "consultation", "countries": ["CH"], **overrides})
    assert_no_finding(findings_of(registry, **data), "desa.new-york-office")


# -- desa.committee-election -------------------------------------------------------------


def test_committee_election_is_organized_by_ohchr(registry):
    by_ohchr = findings_of(registry, **between(kind="committee_election_organized",
                                               mechanisms=["crpd", "crpd-cosp"]))
    by_desa = findings_of(registry, **between(reporting_partner="un-desa",
                                              kind="committee_election_organized",
                                              mechanisms=["crpd", "crpd-cosp"]))
    assert_no_finding(by_ohchr, "desa.committee-election")
    finding = assert_finding(by_desa, "desa.committee-election", severity="warning",
                             field="reporting_partner")
    assert desa.Q_ELECTION in finding.source


@pytest.mark.parametrize("day, flagged", [("2007-11-08", False), ("2007-11-09", True)])
def test_rules_apply_from_the_date_of_the_programme(registry, day, flagged):
    findings = findings_of(registry, **between(reporting_partner="un-desa", occurred_on=day,
                                               kind="committee_election_organized"))
    if flagged:
        assert_finding(findings, "desa.committee-election")
    else:
        assert_no_finding(findings, "desa.committee-election")


# -- desa.avoid-duplication ----------------------------------------------------------------


def test_the_same_statement_by_both_departments_is_flagged(registry):
    first = record(registry, **between(kind="statement_delivered", countries=["CH"]))
    findings = findings_of(registry, **between(reporting_partner="un-desa",
                                               kind="statement_delivered", countries=["CH"]))
    finding = assert_finding(findings, "desa.avoid-duplication", severity="warning")
    assert finding.related == (first.aggregate_id,)
    assert desa.Q_AVOID_DUPLICATION in finding.source
    assert desa.Q_BOTH_DEPARTMENTS in finding.source


def test_duplication_is_flagged_either_way_and_recorded_as_a_warning(registry):
    first = record(registry, **between(reporting_partner="un-desa", kind="statement_delivered"))
    second = record(registry, **between(kind="statement_delivered"))
    (warning,) = [w for w in second.warnings if w["rule"] == "desa.avoid-duplication"]
    assert warning["related"] == [first.aggregate_id]
    stored = registry.queries.action(second.aggregate_id)
    assert [f["related"] for f in stored["findings"]
            if f["rule"] == "desa.avoid-duplication"] == [[first.aggregate_id]]


def test_an_inter_agency_meeting_attended_by_both_is_not_duplication(registry):
    record(registry, **between(kind="inter_agency_meeting"))
    findings = findings_of(registry, **between(reporting_partner="un-desa",
                                               kind="inter_agency_meeting"))
    assert_no_finding(findings, "desa.avoid-duplication")


@pytest.mark.parametrize("second, flagged", [
    ("2012-10-10", True),  # the last day of the first action
    ("2012-10-11", False),  # the day after
    ("2012-10-07", False),  # the day before it began
    ({"start": "2012-10-07", "end": "2012-10-08"}, True),
])
def test_duplication_needs_overlapping_dates(registry, second, flagged):
    record(registry, **between(kind="statement_delivered",
                               occurred_on={"start": "2012-10-08", "end": "2012-10-10"}))
    findings = findings_of(registry, **between(reporting_partner="un-desa",
                                               kind="statement_delivered", occurred_on=second))
    if flagged:
        assert_finding(findings, "desa.avoid-duplication")
    else:
        assert_no_finding(findings, "desa.avoid-duplication")


def test_duplication_concerns_work_on_the_convention(registry):
    """OHCHR's work with ODIHR in the OSCE region is not DESA's to coordinate."""
    record(registry, reporting_partner="un-desa", partners=["un-desa"], kind="training",
           occurred_on="2015-05-05", countries=["US"], mechanisms=[], themes=["human-rights"])
    outside = findings_of(registry, reporting_partner="ohchr", partners=["ohchr", "osce-odihr"],
                          kind="training", occurred_on="2015-05-05", countries=["GE"],
                          mechanisms=["upr"], themes=["human-rights"])
    assert_no_finding(outside, "desa.avoid-duplication")
    on_the_convention = findings_of(registry, reporting_partner="ohchr", partners=["ohchr"],
                                    kind="training", occurred_on="2015-05-05",
                                    countries=["CH"], mechanisms=["crpd"], themes=[])
    assert_finding(on_the_convention, "desa.avoid-duplication")


def test_duplication_is_found_behind_many_similar_actions_of_other_partners(registry):
    """A busy registry holds a dozen actions of a kind a day: the other department's
    must be found however many of other partners come before it."""
    for _ in range(25):
        record(registry, reporting_partner="osce-odihr", partners=["osce-odihr", "ohchr"],
               kind="statement_delivered", countries=["CH"],
               occurred_on={"start": "2012-10-08", "end": "2012-10-09"})  # begun earlier
    first = record(registry, **between(kind="statement_delivered"))
    findings = findings_of(registry, **between(reporting_partner="un-desa",
                                               kind="statement_delivered"))
    finding = assert_finding(findings, "desa.avoid-duplication")
    assert finding.related == (first.aggregate_id,)


def test_duplication_only_between_desa_and_ohchr(registry):
    record(registry, reporting_partner="osce-odihr", partners=["osce-odihr", "ohchr"],
           kind="statement_delivered", occurred_on="2012-10-09", countries=["CH"])
    assert_no_finding(findings_of(registry, **between(kind="statement_delivered")),
                      "desa.avoid-duplication")
    assert_no_finding(findings_of(registry, **between(reporting_partner="un-desa",
                                                      kind="statement_delivered")),
                      "desa.avoid-duplication")


def test_a_different_kind_or_a_retracted_action_is_not_a_duplicate(registry):
    first = record(registry, **between(kind="statement_delivered"))
    assert_no_finding(findings_of(registry, **between(reporting_partner="un-desa",
                                                      kind="meeting_attended")),
                      "desa.avoid-duplication")
    registry.app.execute(load_command({"command": "retract_action",
                                       "action_id": first.aggregate_id,
                                       "reason": "recorded twice"}), by="partner:ohchr")
    registry.follower.catch_up()
    assert_no_finding(findings_of(registry, **between(reporting_partner="un-desa",
                                                      kind="statement_delivered")),
                      "desa.avoid-duplication")


def test_related_actions_hook_on_its_own():
    facts = load_command({"command": "report_action", **between(
        reporting_partner="un-desa", kind="statement_delivered", summary="s")}).facts
    candidates = [
        {"id": "a", "reporting_partner": "ohchr", "kind": "statement_delivered"},
        {"id": "b", "reporting_partner": "osce-odihr", "kind": "statement_delivered"},
        {"id": "c", "reporting_partner": "ohchr", "kind": "statement_delivered"},
    ]
    view = CandidatesView(candidates)
    found = desa.coopreg_related_actions(facts, view)
    assert [f.related for f in found] == [("a",), ("c",)]
    assert view.asked == ["ohchr"]  # the other department's alone, not the first few of all
    assert desa.coopreg_related_actions(facts, CandidatesView([])) == []


class CandidatesView:
    """A registry view that knows only some similar actions."""

    def __init__(self, candidates: list[dict]) -> None:
        self.candidates = candidates
        self.asked: list[str | None] = []

    def similar_actions(self, facts: object, *, reported_by: str | None = None) -> list[dict]:
        self.asked.append(reported_by)
        return [c for c in self.candidates if reported_by in (None, c["reporting_partner"])]


# -- obligations: per session of the Conference ------------------------------------------


def commitment(cadence: str = "per_session", **overrides: object) -> Commitment:
    values: dict[str, object] = dict(
        id="ohchr-staff-at-cosp",
        text="OHCHR sends a staff member to attend each session of the Conference of States "
             "Parties.",
        responsible=("ohchr",), counterparts=("un-desa",), cadence=cadence,
        due=DueRule("session" if cadence == "per_session" else "period"),
        fulfilled_by=("meeting_attended",),
        source=Source(desa.SEED, desa.Q_STAFF_AT_COSP))
    values.update(overrides)
    return Commitment(**values)  # type: ignore[arg-type]


def agreement(signed_on: date = SIGNED, parties: tuple[str, ...] = ("un-desa", "ohchr"),
              terminated_on: date | None = None) -> AgreementSnapshot:
    return AgreementSnapshot(reference="desa-ohchr-crpd-2007", kind="joint_work_programme",
                             parties=parties, signed_on=signed_on, commitments=(commitment(),),
                             review_rule=None, terminated_on=terminated_on)


def core(agreement: AgreementSnapshot, commitment: Commitment) -> list:
    """The registry's own schedule (by cadence), whatever its period labels."""
    return compliance.coopreg_obligations(agreement, commitment)


def periods(signed_on: date = SIGNED, terminated_on: date | None = None) -> list[str]:
    result = desa.coopreg_obligations(agreement(signed_on, terminated_on=terminated_on),
                                      commitment())
    assert result is not None
    return [o.period for o in result]


def test_per_session_commitment_falls_due_at_each_session_from_cosp1():
    obligations = desa.coopreg_obligations(agreement(), commitment())
    assert [o.period for o in obligations] == [f"cosp-{n}" for n in range(1, 19)]
    first = obligations[0]
    assert (first.start, first.end, first.due_on) == (
        date(2008, 10, 31), date(2008, 11, 3), date(2008, 11, 3))
    assert first.agreement == "desa-ohchr-crpd-2007"
    assert first.commitment == "ohchr-staff-at-cosp"
    assert first.responsible == ("ohchr",)
    assert first.counterparts == ("un-desa",)
    assert first.fulfilled_by == ("meeting_attended",)
    assert first.cadence == "per_session"
    assert first.text == commitment().text
    last = obligations[-1]
    assert (last.period, last.start, last.due_on) == (
        "cosp-18", date(2025, 6, 10), date(2025, 6, 12))


@pytest.mark.parametrize("signed_on, first", [
    (date(2008, 10, 31), "cosp-1"),  # signed on the first day: included
    (date(2008, 11, 1), "cosp-2"),  # signed during the session: it began before
    (date(2008, 11, 4), "cosp-2"),  # the session ended the day before signature
    (date(2009, 9, 2), "cosp-2"),
    (date(2009, 9, 3), "cosp-3"),
])
def test_only_sessions_starting_on_or_after_signature(signed_on, first):
    assert periods(signed_on)[0] == first


@pytest.mark.parametrize("terminated_on, sessions", [
    (date(2009, 9, 2), ["cosp-1"]),  # COSP2 starts on the termination day: excluded
    (date(2009, 9, 3), ["cosp-1", "cosp-2"]),
    (date(2008, 10, 31), []),
])
def test_sessions_before_termination(terminated_on, sessions):
    assert periods(SIGNED, terminated_on) == sessions


def test_an_agreement_without_desa_is_left_to_the_core():
    without = agreement(SIGNED, ("ohchr", "osce-odihr"))
    assert desa.coopreg_obligations(without, commitment()) is None
    host = host_with(("desa", desa))
    yearly = host.obligations(without, commitment())
    assert yearly == core(without, commitment())
    assert yearly and not any(o.period.startswith("cosp-") for o in yearly)


def test_other_cadences_are_left_to_the_core():
    assert desa.coopreg_obligations(agreement(), commitment("annual")) is None
    assert desa.coopreg_obligations(agreement(), commitment("regular")) is None
    host = host_with(("desa", desa))
    annual = commitment("annual")
    assert host.obligations(agreement(), annual) == core(agreement(), annual)


def test_a_commitment_about_the_committee_sessions_is_left_to_the_core():
    committee = commitment(id="ohchr-services-committee",
                           text="OHCHR has primary responsibility for servicing the Committee "
                                "on the Rights of Persons with Disabilities.")
    assert desa.coopreg_obligations(agreement(), committee) is None


def test_the_host_schedules_by_session_when_the_plugin_is_active():
    host = host_with(("desa", desa))
    assert host.obligations(agreement(), commitment())[0].period == "cosp-1"
    assert host_with().obligations(agreement(), commitment()) == core(agreement(),
                                                                      commitment())


def test_compliance_follows_the_sessions(registry):
    data = {
        "command": "register_agreement", "reference": "desa-ohchr-crpd-2007",
        "kind": "joint_work_programme", "title": "Joint work programme DESA-OHCHR on the CRPD",
        "parties": ["un-desa", "ohchr"], "signed_on": "2007-11-09", "signed_at": "New York",
        "commitments": [{"id": "ohchr-staff-at-cosp", "text": commitment().text,
                         "responsible": ["ohchr"], "counterparts": ["un-desa"],
                         "cadence": "per_session", "due": {"basis": "session"},
                         "fulfilled_by": ["meeting_attended"]}]}
    registry.app.execute(load_command(data), by="admin:test")
    attended = record(registry, **between(kind="meeting_attended",
                                          occurred_on={"start": "2008-10-31",
                                                       "end": "2008-11-03"}))
    report = registry.queries.compliance("desa-ohchr-crpd-2007", on=date(2009, 12, 31))
    status = {o["period"]: (o["status"], o["evidence"]) for o in report["obligations"]}
    assert status == {"cosp-1": ("met", [attended.aggregate_id]),
                      "cosp-2": ("overdue", [])}
