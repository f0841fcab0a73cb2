"""Wires a registry together from a database URL: application, read models, follower."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from registry.application import Registry
from registry.config import Database, database_url, parse_database
from registry.ledger.notary import Notary
from registry.plugins import PluginHost, Selection
from registry.projections import (
    PROJECTIONS,
    Follower,
    Ledger,
    Queries,
    ReadModel,
    read_model_for,
)
from registry.rules import Rulebook, today_utc


@dataclass
class Services:
    database: Database
    app: Registry
    projections: list[ReadModel]
    follower: Follower
    queries: Queries
    ledger: Ledger
    notary: Notary

    def close(self) -> None:
        self.app.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_registry(url: str | None = None, *, rules: Rulebook | None = None,
                  plugins: Selection | None = None,
                  today: Callable[[], date] = today_utc,
                  signing_key: Path | None = None) -> Services:
    """The registry at `url` (default: COOPREG_DB, else sqlite:///registry.db) with the
    given rules, or else the plugins found by entry point (narrowed by `plugins`), and the
    log's signing key at `signing_key` (default: see `registry.ledger.notary`)."""
    database = parse_database(database_url(url))
    rules = rules or PluginHost.from_entry_points(plugins)
    with _one_opening_at_a_time(database):
        app = Registry(database.env, rules=rules, today=today)
        datastore = app.factory.datastore  # type: ignore[attr-defined]
        projections = [cls(read_model_for(datastore, cls.name), rules=rules)
                       for cls in PROJECTIONS]
        queries = Queries(projections[0].sql, rules)
        ledger = Ledger(queries.sql)
        notary = Notary.for_database(queries.sql, ledger, database, signing_key)
    follower = Follower(app, projections)
    app.similar_actions = queries.similar_actions
    app.partner_directory = lambda: [p["id"] for p in queries.partners()]
    return Services(database, app, projections, follower, queries, ledger, notary)


@contextmanager
def _one_opening_at_a_time(database: Database) -> Iterator[None]:
    """Opening a store creates what is missing, and eventsourcing replaces its insert
    function on PostgreSQL each time. Processes opening one PostgreSQL schema at once
    (gunicorn workers booting) collided on that DDL ("tuple concurrently updated",
    duplicate catalog rows), and a worker that fails to boot stops the whole server: so
    they take turns, under an advisory lock held on a connection of its own. SQLite
    serializes DDL by locking the file."""
    if not database.is_postgres:
        yield
        return
    import psycopg

    env = database.env
    with psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                         port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
                         password=env["POSTGRES_PASSWORD"] or None, autocommit=True,
                         connect_timeout=5) as connection:
        key = f"coopreg-open:{env.get('POSTGRES_SCHEMA', 'public')}"
        connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        yield  # the lock ends with the connection
