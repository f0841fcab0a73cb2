"""A full rebuild on SQLite drops the indexes that only serve queries and builds them once at
the end; whatever happens in between, the read models end up equal and fully indexed."""

import pytest

from registry.bootstrap import open_registry
from tests.conftest import action, agreement, partner, run


def index_names(services) -> set[str]:
    rows = services.queries.sql.all("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {row["name"] for row in rows}


def secondary_indexes(services) -> set[str]:
    return {name for p in services.projections for name in p.secondary_indexes()}


@pytest.fixture
def recorded(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    services = open_registry(url)
    for partner_id in ("ohchr", "osce-odihr"):
        run(services, partner(partner_id))
    run(services, agreement())
    for day in ("2015-03-01", "2016-03-01", "2017-03-01"):
        run(services, action(occurred_on=day), by="partner:ohchr")
    services.follower.catch_up()
    yield url, services
    services.close()


def test_every_read_model_declares_the_indexes_a_rebuild_may_drop(recorded):
    _, services = recorded
    assert {"agreement_versions_current", "agreement_versions_id"} <= secondary_indexes(services)
    assert secondary_indexes(services) <= index_names(services)
    assert "ledger_leaves_index" not in secondary_indexes(services)  # UNIQUE: it checks


def test_a_rebuild_ends_with_every_index_and_the_same_read_models(recorded):
    _, services = recorded
    live = services.follower.digests()
    services.follower.rebuild()
    assert services.follower.digests() == live
    assert secondary_indexes(services) <= index_names(services)


def test_a_rebuild_keeps_the_indexes_its_own_handlers_look_rows_up_by(recorded, monkeypatch):
    _, services = recorded
    seen: list[set[str]] = []
    dispatch = services.follower._dispatch

    def dispatch_and_look(*args, **kwargs):
        seen.append(index_names(services))
        return dispatch(*args, **kwargs)

    monkeypatch.setattr(services.follower, "_dispatch", dispatch_and_look)
    services.follower.rebuild()
    # an amendment finds its action's evidence by this index; without it, a scan per event
    assert seen and all("compliance_evidence_action" in names for names in seen)
    assert not any("agreement_versions_current" in names for names in seen)


def test_a_rebuild_that_fails_midway_still_restores_the_indexes(recorded, monkeypatch):
    _, services = recorded

    def crash(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services.follower, "_dispatch", crash)
    with pytest.raises(RuntimeError):
        services.follower.rebuild()
    assert secondary_indexes(services) <= index_names(services)


def test_opening_the_store_restores_indexes_a_killed_rebuild_left_dropped(recorded):
    url, services = recorded
    live = services.follower.digests()
    for projection in services.projections:  # what a process killed mid-rebuild leaves
        projection.drop_secondary_indexes()
    assert not secondary_indexes(services) & index_names(services)
    reopened = open_registry(url)
    try:
        assert secondary_indexes(reopened) <= index_names(reopened)
        reopened.follower.catch_up()
        assert reopened.follower.digests() == live
    finally:
        reopened.close()


def test_a_follower_that_lost_the_race_for_a_batch_rolls_back_and_catches_up(
        shared_store_url):
    """Bulk writes (COPY on PostgreSQL, executemany on SQLite) refuse a batch another
    process has already applied as an IntegrityError, like row-by-row inserts did."""
    from eventsourcing.persistence import IntegrityError

    from registry.projections import Follower

    first, second = open_registry(shared_store_url), open_registry(shared_store_url)
    try:
        for partner_id in ("ohchr", "osce-odihr"):
            run(first, partner(partner_id))
        for day in range(1, 29):
            run(first, action(occurred_on=f"2015-02-{day:02d}"), by="partner:ohchr")
        stale = second.follower.positions()
        notifications = second.app.recorder.select_notifications(start=1, limit=100)
        first.follower.catch_up()
        actions_only = Follower(second.app, [p for p in second.projections
                                             if p.name == "actions"])  # rows in bulk only
        with pytest.raises(IntegrityError):
            actions_only._apply(notifications, stale)
        second.follower.catch_up()
        assert second.follower.digests() == first.follower.digests()
    finally:
        second.close()
        first.close()


def test_a_rebuild_on_postgresql_leaves_the_planner_statistics(postgres_url):
    services = open_registry(postgres_url)
    try:
        for partner_id in ("ohchr", "osce-odihr"):
            run(services, partner(partner_id))
        run(services, action(), by="partner:ohchr")
        services.follower.rebuild()
        sql = services.queries.sql
        analyzed = {r["relname"] for r in sql.all(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = ? "
            "AND last_analyze IS NOT NULL", (sql.schema,))}
        assert {"action_versions", "action_tags", "ledger_leaves"} <= analyzed
    finally:
        services.close()
