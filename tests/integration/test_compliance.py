"""Compliance: each agreement's obligations per period, judged as of any date."""

from datetime import date

import pytest

from registry.projections import compliance
from registry.schemas import load_command
from registry.testing import record, registry_with

PROGRAMME = {
    "command": "register_agreement", "reference": "desa-ohchr-2007",
    "kind": "joint_work_programme", "title": "Joint work programme",
    "parties": ["un-desa", "ohchr"], "signed_on": "2007-11-09", "signed_at": "New York",
    "commitments": [
        {"id": "ohchr-work-plan", "text": "OHCHR shares its work plan every year",
         "responsible": ["ohchr"], "counterparts": ["un-desa"], "cadence": "annual",
         "fulfilled_by": ["work_plan_shared"]},
        {"id": "servicing", "text": "DESA services the Conference", "responsible": ["un-desa"],
         "cadence": "per_session", "fulfilled_by": []},
    ],
    "review_rule": {"months_after_signature": 24},
}


@pytest.fixture
def registry():
    services = registry_with(url="sqlite:///:memory:")
    services.app.execute(load_command(PROGRAMME), by="admin:test")
    services.follower.catch_up()
    yield services
    services.close()


def status(registry, on, commitment="ohchr-work-plan", period=None):
    report = registry.queries.compliance("desa-ohchr-2007", on=date.fromisoformat(on))
    rows = [o for o in report["obligations"] if o["commitment"] == commitment
            and (period is None or o["period"] == period)]
    return [(o["period"], o["status"]) for o in rows]


def work_plan(registry, day, **overrides):
    return record(registry, reporting_partner="ohchr", partners=["ohchr", "un-desa"],
                  kind="work_plan_shared", occurred_on=day, countries=["CH"], mechanisms=[],
                  themes=[], **overrides)


def test_years_run_from_the_signature_and_fall_due_at_their_end(registry):
    assert status(registry, "2008-11-08") == [("2007-11-09", "due")]
    assert status(registry, "2008-11-09") == [("2007-11-09", "overdue"), ("2008-11-09", "due")]


def test_an_action_in_the_period_meets_it_as_of_the_day_it_occurred(registry):
    receipt = work_plan(registry, "2008-03-01")
    assert status(registry, "2008-02-29") == [("2007-11-09", "due")]
    assert status(registry, "2008-03-01") == [("2007-11-09", "met")]
    report = registry.queries.compliance("desa-ohchr-2007", on=date(2008, 3, 1))
    assert report["obligations"][0]["evidence"] == [receipt.aggregate_id]


def test_an_action_by_a_party_not_responsible_is_no_evidence(registry):
    record(registry, reporting_partner="un-desa", partners=["un-desa", "ohchr"],
           kind="work_plan_shared", occurred_on="2008-03-01", countries=["US"],
           mechanisms=[], themes=[])
    assert status(registry, "2009-01-01")[0] == ("2007-11-09", "overdue")


def test_the_review_rule_falls_due_two_years_after_signature(registry):
    assert status(registry, "2009-11-09", "review") == [("review", "due")]
    assert status(registry, "2009-12-31", "review") == [("review", "overdue")]


def test_recording_a_revision_meets_the_review(registry):
    registry.app.execute(load_command({
        "command": "revise_agreement", "agreement": "desa-ohchr-2007",
        "changes": {"summary": "Revised after two years"}, "reason": "two-year review",
        "revised_on": "2010-02-01"}), by="admin:test")
    registry.follower.catch_up()
    assert status(registry, "2010-01-31", "review") == [("review", "overdue")]
    assert status(registry, "2010-02-01", "review") == [("review", "met")]


def test_a_standing_duty_no_action_evidences_is_not_applicable(registry):
    assert set(status(registry, "2010-01-01", "servicing")) == {
        ("2007-11-09", "not_applicable"), ("2008-11-09", "not_applicable"),
        ("2009-11-09", "not_applicable")}


def test_a_retracted_action_no_longer_counts(registry):
    receipt = work_plan(registry, "2008-03-01")
    registry.app.execute(load_command({"command": "retract_action",
                                       "action_id": receipt.aggregate_id,
                                       "reason": "it was a budget, not a work plan"}),
                         by="partner:ohchr")
    registry.follower.catch_up()
    assert status(registry, "2009-01-01")[0] == ("2007-11-09", "overdue")


def test_an_amended_date_moves_the_evidence_to_its_period(registry):
    receipt = work_plan(registry, "2008-03-01")
    registry.app.execute(load_command({"command": "amend_action",
                                       "action_id": receipt.aggregate_id,
                                       "changes": {"occurred_on": "2009-03-01"},
                                       "reason": "wrong year"}), by="partner:ohchr")
    registry.follower.catch_up()
    assert status(registry, "2010-01-01") == [("2007-11-09", "overdue"), ("2008-11-09", "met"),
                                              ("2009-11-09", "due")]


def test_a_commitment_added_later_is_matched_against_earlier_actions(registry):
    work_plan(registry, "2008-03-01")
    registry.app.execute(load_command({
        "command": "add_commitment", "agreement": "desa-ohchr-2007",
        "commitment": {"id": "plans-once", "text": "Exchange plans once",
                       "responsible": ["ohchr"], "cadence": "once",
                       "fulfilled_by": ["work_plan_shared"]}}), by="admin:test")
    registry.follower.catch_up()
    assert status(registry, "2009-01-01", "plans-once") == [("once", "met")]


def test_termination_ends_the_schedule(registry):
    registry.app.execute(load_command({
        "command": "terminate_agreement", "agreement": "desa-ohchr-2007",
        "terminated_on": "2009-06-30", "reason": "superseded"}), by="admin:test")
    registry.follower.catch_up()
    assert [p for p, _ in status(registry, "2026-01-01")] == ["2007-11-09", "2008-11-09"]


def test_compliance_is_rebuilt_identically_from_the_log(registry):
    work_plan(registry, "2008-03-01")
    live = registry.follower.digests()["compliance"]
    registry.follower.rebuild()
    assert registry.follower.digests()["compliance"] == live


def test_an_unknown_agreement_has_no_compliance(registry):
    assert registry.queries.compliance("nope", on=date(2020, 1, 1)) is None


def test_obligations_derived_by_another_process_are_seen(tmp_path):
    """Each process caches obligations by kind; another process deriving new ones (a new
    commitment) must invalidate that cache, or new actions would miss them."""
    from registry.bootstrap import open_registry
    from registry.testing import TODAY

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = registry_with(url=url)
    first.app.execute(load_command(PROGRAMME), by="admin:test")
    work_plan(first, "2008-03-01")  # builds first's cache
    second = open_registry(url, today=lambda: TODAY)
    second.app.execute(load_command({
        "command": "add_commitment", "agreement": "desa-ohchr-2007",
        "commitment": {"id": "visits", "text": "Visit each other", "responsible": ["ohchr"],
                       "cadence": "once", "fulfilled_by": ["consultation"]}}), by="admin:test")
    second.follower.catch_up()  # the new obligations are derived in the second process
    record(first, reporting_partner="ohchr", partners=["ohchr", "un-desa"],
           kind="consultation", occurred_on="2008-05-01", countries=["CH"], mechanisms=[],
           themes=[])
    assert status(first, "2009-01-01", "visits") == [("once", "met")]
    first.close()
    second.close()


def test_a_revision_matches_every_recorded_action_again_page_by_page(registry, monkeypatch):
    """A revision re-derives the obligations and re-reads the live actions a page at a
    time (a long pause inside the transaction is what PostgreSQL's idle timeout kills)."""
    for year in range(2008, 2015):
        work_plan(registry, f"{year}-03-01")
    monkeypatch.setattr(compliance, "LIVE_ACTIONS_PAGE", 2)
    registry.app.execute(load_command({
        "command": "revise_agreement", "agreement": "desa-ohchr-2007",
        "changes": {"commitments": [dict(PROGRAMME["commitments"][0],
                                         text="OHCHR shares its work plan each year")]},
        "reason": "wording", "revised_on": "2015-01-01"}), by="admin:test")
    registry.follower.catch_up()
    assert [s for _, s in status(registry, "2015-01-01")][:7] == ["met"] * 7
    live = registry.follower.digests()["compliance"]
    monkeypatch.setattr(compliance, "LIVE_ACTIONS_PAGE", 2000)
    registry.follower.rebuild()
    assert registry.follower.digests()["compliance"] == live


def test_each_page_of_a_kinds_live_actions_is_one_index_range(registry, monkeypatch):
    work_plan(registry, "2008-03-01")
    model = next(p for p in registry.projections if p.name == "compliance").model
    pages, execute = [], model.execute

    def spy(statement, params=()):
        if "FROM compliance_actions" in statement and "ORDER BY action_id" in statement:
            pages.append((statement, params))
        return execute(statement, params)

    monkeypatch.setattr(model, "execute", spy)
    registry.app.execute(load_command({
        "command": "revise_agreement", "agreement": "desa-ohchr-2007",
        "changes": {"summary": "Revised"}, "reason": "wording", "revised_on": "2015-01-01"}),
        by="admin:test")
    registry.follower.catch_up()
    assert pages
    for statement, params in pages:
        plan = " / ".join(r["detail"] for r in registry.queries.sql.all(
            f"EXPLAIN QUERY PLAN {statement}", params))
        assert "compliance_actions_kind_live (kind=? AND live=? AND action_id>?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
