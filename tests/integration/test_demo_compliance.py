"""The demo scenario under all built-in plugins: the picture a person would expect."""

from datetime import date

import pytest

from registry.bootstrap import open_registry
from registry.demo import load_demo
from registry.testing import TODAY


@pytest.fixture(scope="module")
def demo():
    services = open_registry("sqlite:///:memory:", today=lambda: TODAY)
    load_demo(services.app, catch_up=services.follower.catch_up)
    services.follower.catch_up()
    yield services
    services.close()


def statuses(demo, reference, on, commitment):
    report = demo.queries.compliance(reference, on=date.fromisoformat(on))
    return {o["period"]: o["status"] for o in report["obligations"]
            if o["commitment"] == commitment}


def test_the_2007_programme_revision_was_overdue_at_the_end_of_2009(demo):
    assert statuses(demo, "desa-ohchr-crpd-2007", "2009-11-08", "review") == {"review": "due"}
    assert statuses(demo, "desa-ohchr-crpd-2007", "2009-12-31", "review") == {
        "review": "overdue"}


def test_work_plans_were_shared_in_some_years_and_not_others(demo):
    ohchr = statuses(demo, "desa-ohchr-crpd-2007", "2012-12-31", "ohchr-annual-work-plan")
    assert ohchr["2007-11-09"] == ohchr["2008-11-09"] == "met"
    assert "overdue" in ohchr.values()


def test_conference_attendance_is_judged_per_session(demo):
    sessions = statuses(demo, "desa-ohchr-crpd-2007", "2013-12-31", "ohchr-staff-at-cosp")
    assert sessions["cosp-1"] == "met"
    assert sessions["cosp-5"] == "overdue"  # no OHCHR attendance recorded for COSP5


def test_the_2014_declaration_has_nothing_due_before_it_was_signed(demo):
    report = demo.queries.compliance("ohchr-odihr-2014", on=date(2014, 6, 11))
    assert report["obligations"] == []


def test_duplication_is_flagged_but_not_for_the_inter_agency_meeting(demo):
    flagged = [a for a in demo.queries.actions(limit=500).items
               if any(f["rule"] == "desa.avoid-duplication" for f in a["findings"])]
    assert [(a["occurred_on"]["start"], a["kind"]) for a in flagged] == [
        ("2012-10-09", "statement_delivered")]
    related = flagged[0]["findings"][0]["related"]
    assert demo.queries.action(related[0])["reporting_partner"] != flagged[0][
        "reporting_partner"]


def test_no_demo_event_breaks_a_rule(demo):
    for action in demo.queries.actions(limit=500).items:
        assert all(f["severity"] == "warning" for f in action["findings"])
