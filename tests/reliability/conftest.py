"""Stores for the reliability tests, on SQLite and on PostgreSQL, with the partners the load
reports for, a signing key (so the servers under test sign checkpoints while they are
being killed) and tokens for the API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.auth import TokenStore
from registry.bootstrap import Services, open_registry
from registry.ledger.notary import KEY_ENV, ensure_key
from tests.conftest import partner, postgres_schema, run
from tests.reliability.load import PARTNER


@dataclass
class Store:
    kind: str  # "sqlite" or "postgres"
    url: str
    folder: Path
    partner_token: str  # the load's partner
    ohchr_token: str

    def open(self) -> Services:
        return open_registry(self.url)


def seeded(kind: str, url: str, folder: Path) -> Store:
    """Register the partners and issue their tokens."""
    with open_registry(url) as services:
        ensure_key(services.database)
        run(services, partner(PARTNER, kind="regional_organization"))
        run(services, partner("ohchr"))
        services.follower.catch_up()
        tokens = TokenStore(services.queries.sql)
        return Store(kind, url, folder, tokens.issue("partner", PARTNER),
                     tokens.issue("partner", "ohchr"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Store:
    """Subprocesses (servers, `coopreg`) inherit the signing key through the environment."""
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "signing-key"))
    monkeypatch.delenv("COOPREG_DB", raising=False)
    if request.param == "sqlite":
        return seeded("sqlite", f"sqlite:///{tmp_path / 'registry.db'}", tmp_path)
    return seeded("postgres", request.getfixturevalue("postgres_url"), tmp_path)


@contextmanager
def fresh_store(kind: str, folder: Path, postgres_reason: str | None) -> Iterator[Store]:
    """Like the `store` fixture, for a longer-lived scope: a PostgreSQL schema of its own,
    dropped afterwards, under the same skip/fail rule."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, str(folder / "signing-key"))
        patch.delenv("COOPREG_DB", raising=False)
        if kind == "sqlite":
            yield seeded(kind, f"sqlite:///{folder / 'registry.db'}", folder)
        else:
            with postgres_schema(postgres_reason) as url:
                yield seeded(kind, url, folder)
