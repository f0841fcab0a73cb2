"""Wires a registry together from a database URL: application, read models, follower."""

from __future__ import annotations

from collections.abc import Callable
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
    app = Registry(database.env, rules=rules, today=today)
    datastore = app.factory.datastore  # type: ignore[attr-defined]
    projections = [cls(read_model_for(datastore, cls.name), rules=rules) for cls in PROJECTIONS]
    follower = Follower(app, projections)
    queries = Queries(projections[0].sql, rules)
    app.similar_actions = queries.similar_actions
    app.partner_directory = lambda: [p["id"] for p in queries.partners()]
    ledger = Ledger(queries.sql)
    notary = Notary.for_database(queries.sql, ledger, database, signing_key)
    return Services(database, app, projections, follower, queries, ledger, notary)
