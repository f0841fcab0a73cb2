"""Read models: filters, history, as-of queries, and replay equal to the live result."""

from dataclasses import replace
from datetime import date
from uuid import UUID

import pytest

from registry.bootstrap import open_registry
from registry.projections import ActionFilter
from tests.conftest import TODAY, action, agreement, partner, planned_store, run


@pytest.fixture
def history(partners):
    run(partners, agreement())
    ids = {
        "ua": run(partners, action(), by="partner:ohchr").aggregate_id,
        "upr": run(partners, action(reporting_partner="osce-odihr", kind="submission_to_mechanism",
                                    occurred_on="2016-03-01", countries=["GE"],
                                    agreement="ohchr-odihr-2014"),
                   by="partner:osce-odihr").aggregate_id,
        "crpd": run(partners, action(reporting_partner="un-desa", partners=["un-desa", "ohchr"],
                                     kind="work_plan_shared", occurred_on="2008-01-15",
                                     countries=["US"], mechanisms=["crpd"],
                                     themes=["rights-of-persons-with-disabilities"]),
                    by="partner:un-desa").aggregate_id,
    }
    partners.follower.catch_up()
    return partners, ids


def ids_of(page) -> set[str]:
    return {item["id"] for item in page.items}


@pytest.mark.parametrize(("where", "expected"), [
    (ActionFilter(), {"ua", "upr", "crpd"}),
    (ActionFilter(partner="un-desa"), {"crpd"}),
    (ActionFilter(counterpart="ohchr"), {"crpd", "upr"}),
    (ActionFilter(counterpart="osce-odihr"), {"ua"}),
    (ActionFilter(country="GE"), {"upr"}),
    (ActionFilter(kind="work_plan_shared"), {"crpd"}),
    (ActionFilter(theme="rights-of-persons-with-disabilities"), {"crpd"}),
    (ActionFilter(mechanism="crpd"), {"crpd"}),
    (ActionFilter(agreement="ohchr-odihr-2014"), {"upr"}),
    (ActionFilter(occurred_from=date(2014, 1, 1), occurred_to=date(2014, 12, 31)), {"ua"}),
])
def test_actions_can_be_filtered(history, where, expected):
    services, ids = history
    assert ids_of(services.queries.actions(where)) == {ids[k] for k in expected}


def test_pages_follow_a_cursor_in_occurred_order(history):
    services, _ = history
    first = services.queries.actions(limit=2)
    assert [i["occurred_on"]["start"] for i in first.items] == ["2008-01-15", "2014-06-12"]
    rest = services.queries.actions(limit=2, cursor=first.next_cursor)
    assert [i["occurred_on"]["start"] for i in rest.items] == ["2016-03-01"]
    assert rest.next_cursor is None


def test_an_amended_and_retracted_action_keeps_its_history(history):
    services, ids = history
    amend = {"command": "amend_action", "action_id": ids["ua"],
             "changes": {"countries": ["UA", "MD"]}, "reason": "Moldova took part too"}
    run(services, amend, by="partner:ohchr")
    run(services, {"command": "retract_action", "action_id": ids["ua"],
                   "reason": "reported by mistake"}, by="partner:ohchr")
    services.follower.catch_up()
    shown = services.queries.action(ids["ua"])
    assert shown["status"] == "retracted"
    assert shown["countries"] == ["UA", "MD"]
    assert [v["event"] for v in shown["history"]] == ["reported", "amended", "retracted"]
    assert shown["history"][1]["reason"] == "Moldova took part too"
    assert ids["ua"] in ids_of(services.queries.actions(ActionFilter(country="MD")))
    live = services.queries.actions(ActionFilter(include_retracted=False))
    assert ids["ua"] not in ids_of(live)


def test_as_of_a_past_position_shows_what_the_registry_showed_then(history):
    services, ids = history
    before = services.app.recorder.max_notification_id()
    run(services, {"command": "amend_action", "action_id": ids["ua"],
                   "changes": {"countries": ["MD"]}, "reason": "wrong country"},
        by="partner:ohchr")
    services.follower.catch_up()
    assert ids["ua"] in ids_of(services.queries.actions(ActionFilter(country="UA"),
                                                        as_of=before))
    assert ids["ua"] not in ids_of(services.queries.actions(ActionFilter(country="UA")))
    assert services.queries.action(ids["ua"], as_of=before)["version"] == 1


def test_agreements_and_partners_read_models(history):
    services, _ = history
    shown = services.queries.agreement("ohchr-odihr-2014")
    assert shown["parties"] == ["ohchr", "osce-odihr"]
    assert shown["commitments"][0]["id"] == "implement-recommendations"
    assert [a["id"] for a in services.queries.agreements(partner="osce-odihr")] == [
        "ohchr-odihr-2014"]
    assert services.queries.agreements(partner="un-desa") == []
    assert [p["id"] for p in services.queries.partners()] == ["ohchr", "osce-odihr", "un-desa"]


def test_a_revision_is_a_new_text_version(history):
    services, _ = history
    run(services, {"command": "revise_agreement", "agreement": "ohchr-odihr-2014",
                   "changes": {"title": "Joint declaration (revised)"}, "reason": "review"})
    services.follower.catch_up()
    shown = services.queries.agreement("ohchr-odihr-2014")
    assert (shown["title"], shown["text_version"], shown["version"]) == (
        "Joint declaration (revised)", 2, 2)
    assert shown["history"][1]["reason"] == "review"


def test_replay_from_zero_equals_the_live_read_models(history):
    services, ids = history
    run(services, {"command": "amend_action", "action_id": ids["upr"],
                   "changes": {"summary": "UPR submission"}, "reason": "clarity"},
        by="partner:osce-odihr")
    services.follower.catch_up()
    live = services.follower.digests()
    services.follower.rebuild()
    assert services.follower.digests() == live
    assert set(services.follower.lag().values()) == {0}


def test_catching_up_is_resumable_and_exactly_once(history):
    services, _ = history
    live = services.follower.digests()
    for projection in services.projections:
        projection.reset()
    services.follower.batch_size = 2
    services.follower.catch_up(until=4)  # stop part way, as a crash would
    assert min(services.follower.positions().values()) == 4
    services.follower.catch_up()
    services.follower.catch_up()  # nothing more to do: nothing applied twice
    assert services.follower.digests() == live


def test_projection_rows_name_the_findings_and_recorder(history):
    services, ids = history
    shown = services.queries.action(ids["crpd"])
    assert shown["recorded_by"] == "partner:un-desa"
    assert shown["findings"] == []
    assert UUID(shown["id"])


def test_a_rebuilt_registry_opens_again_and_again(shared_store_url):
    """Rebuilding forgets only the projection's own tracking, never eventsourcing's
    migration marker (losing it made PostgreSQL re-migrate and fail on the next open)."""
    from registry.bootstrap import open_registry

    for _ in range(3):
        services = open_registry(shared_store_url)
        services.follower.rebuild()
        services.close()


def test_the_read_model_shows_claimed_acknowledged_or_disputed(history):
    services, ids = history
    assert services.queries.action(ids["ua"])["confirmation"] == "claimed"
    run(services, {"command": "acknowledge_action", "action_id": ids["ua"],
                   "partner": "osce-odihr", "note": "confirmed"}, by="partner:osce-odihr")
    services.follower.catch_up()
    shown = services.queries.action(ids["ua"])
    assert shown["confirmation"] == "acknowledged"
    assert shown["responses"] == {"osce-odihr": {"response": "acknowledged",
                                                 "text": "confirmed"}}
    run(services, {"command": "dispute_action", "action_id": ids["ua"],
                   "partner": "osce-odihr", "reason": "wrong country"}, by="partner:osce-odihr")
    services.follower.catch_up()
    shown = services.queries.action(ids["ua"])
    assert shown["confirmation"] == "disputed"
    assert [v["event"] for v in shown["history"]] == ["reported", "acknowledged", "disputed"]
    live = services.follower.digests()
    services.follower.rebuild()
    assert services.follower.digests() == live


def similar_actions_plan(tmp_path, **options: object) -> str:
    """SQLite's plan of the query `similar_actions(facts of a report, **options)` makes,
    asked for osce-odihr."""
    with planned_store(tmp_path) as services:
        sql, statements = services.queries.sql, []
        read = sql.all
        sql.all = lambda statement, params=(): statements.append((statement, params)) or read(
            statement, params)
        facts = services.app.action(UUID(run(services, action(), by="partner:ohchr")
                                         .aggregate_id)).facts
        statements.clear()
        services.queries.similar_actions(replace(facts, reporting_partner="osce-odihr"),
                                         **options)
        sql.all = read
        return " / ".join(r["detail"] for r in read(
            f"EXPLAIN QUERY PLAN {statements[-1][0]}", statements[-1][1]))


@pytest.mark.parametrize("as_of", [None, 10**6])
def test_similar_actions_walk_the_kinds_index_and_stop_at_the_limit(tmp_path, as_of):
    """Each report of a partner with a duplication rule asks for similar actions: the
    walk must stay within the kind's rows, in index order, however long the history."""
    plan = similar_actions_plan(tmp_path, as_of=as_of)
    assert "INDEX action_versions_kind_occurred (kind=? AND occurred_start>? AND" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_similar_actions_of_one_partner_are_all_found_however_many_others_come_first(
        store_url):
    """`reported_by`: that partner's live, unretracted actions of the kind overlapping the
    dates, as of any position, whatever the other partners reported before them."""
    with open_registry(store_url, today=lambda: TODAY) as services:
        for pid in ("ohchr", "osce-odihr", "un-desa"):
            run(services, partner(pid))
        for _ in range(25):  # begun a day earlier, so first in occurred order
            run(services, action(reporting_partner="osce-odihr",
                                 occurred_on={"start": "2014-06-11", "end": "2014-06-12"}),
                by="partner:osce-odihr")
        ids = [run(services, action(kind=kind, occurred_on=day), by="partner:ohchr").aggregate_id
               for kind, day in (("joint_activity", "2014-06-12"),
                                 ("joint_activity", "2014-06-12"),
                                 ("training", "2014-06-12"),  # another kind
                                 ("joint_activity", "2014-06-14"))]  # other dates
        before_retraction = services.app.recorder.max_notification_id()
        run(services, {"command": "retract_action", "action_id": ids[1],
                       "reason": "reported twice"}, by="partner:ohchr")
        services.follower.catch_up()
        facts = services.app.action(UUID(ids[0])).facts
        desa = replace(facts, reporting_partner="un-desa")

        def found(**kwargs: object) -> set[str]:
            return {a["id"] for a in services.queries.similar_actions(desa, **kwargs)}

        assert found(reported_by="ohchr") == {ids[0]}
        assert found(reported_by="ohchr", as_of=before_retraction) == {ids[0], ids[1]}
        assert ids[0] not in found()  # the first 20 of everyone: osce-odihr's
        assert found(reported_by="un-desa") == set()  # never the reporter's own
        assert services.queries.similar_actions(facts, reported_by="ohchr") == []


@pytest.mark.parametrize("as_of", [None, 10**6])
def test_similar_actions_of_one_partner_walk_its_tag_rows(tmp_path, as_of):
    plan = similar_actions_plan(tmp_path, as_of=as_of, reported_by="ohchr")
    assert ("COVERING INDEX sqlite_autoindex_action_tags_1 (tag=? AND value=? AND "
            "occurred_start>? AND occurred_start<?)") in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_similar_actions_on_postgresql_test_the_live_version_in_the_kinds_index(postgres_url):
    with open_registry(postgres_url, today=lambda: TODAY) as services:
        for pid in ("ohchr", "osce-odihr"):
            run(services, partner(pid))
        facts = services.app.action(UUID(run(services, action(), by="partner:ohchr")
                                         .aggregate_id)).facts
        services.follower.catch_up()
        sql, statements = services.queries.sql, []
        read = sql.all
        sql.all = lambda statement, params=(): statements.append((statement, params)) or []
        services.queries.similar_actions(replace(facts, reporting_partner="osce-odihr"))
        sql.all = read
        with sql.transaction(commit=False) as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: as if large
            sql.execute(cursor, f"EXPLAIN {statements[-1][0]}", statements[-1][1])
            plan = "\n".join(row["QUERY PLAN"] for row in cursor.fetchall())
    assert "action_versions_kind_occurred" in plan, plan
    assert "valid_to IS NULL" in plan.split("Index Cond")[1].split("\n")[0], plan
