"""The SQLite store's connections: eventsourcing's, except that each caches its statements
(the library asks sqlite3 for a cache of one)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from eventsourcing.persistence import InterfaceError

from registry.bootstrap import Services, open_registry
from registry.sqlite_store import STATEMENT_CACHE, StatementCachingPool
from tests.conftest import action, partner, run


def record_an_action(services: Services) -> None:
    for command in (partner("ohchr"), partner("osce-odihr"), action()):
        run(services, command)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The arguments of every `sqlite3.connect` made meanwhile."""
    calls: list[dict[str, Any]] = []
    connect = sqlite3.connect

    def recording(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        calls.append(kwargs)
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", recording)
    return calls


def test_a_registry_on_a_file_caches_its_statements_and_writes_ahead(tmp_path, connects):
    services = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        pool = services.app.factory.datastore.pool  # type: ignore[attr-defined]
        assert isinstance(pool, StatementCachingPool)
        record_an_action(services)
        services.follower.catch_up()
        assert len(services.queries.actions().items) == 1  # read models and queries as before
        assert connects
        assert {c["cached_statements"] for c in connects} == {STATEMENT_CACHE}
        datastore = services.app.factory.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
    finally:
        services.close()
    assert pool.journal_mode_was_changed_to_wal  # a new file: this pool turned WAL on


def test_an_in_memory_registry_keeps_its_journal(connects):
    services = open_registry("sqlite:///:memory:")
    try:
        record_an_action(services)
        pool = services.app.factory.datastore.pool  # type: ignore[attr-defined]
        assert isinstance(pool, StatementCachingPool)
        assert not pool.is_journal_mode_wal
        assert services.app.event_table.count() == 3
    finally:
        services.close()
    assert {c["cached_statements"] for c in connects} == {STATEMENT_CACHE}


def test_a_missing_database_folder_is_an_interface_error(tmp_path):
    pool = StatementCachingPool(db_name=str(tmp_path / "no" / "such" / "folder.db"))
    with pytest.raises(InterfaceError):
        pool.get_connection()
