"""Shared fixtures. PostgreSQL tests get a schema of their own per test, created and
dropped here, so parallel runs never collide. Where no server answers they skip with the
reason, except when COOPREG_REQUIRE_POSTGRES=1 (CI), where they fail instead."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import pytest

from registry.bootstrap import Services, open_registry
from registry.schemas import load_command

TODAY = date(2026, 11, 1)
PG_DSN = os.environ.get("COOPREG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_unavailable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=3):
            return None
    except Exception as error:  # any failure means: no usable server here
        return f"PostgreSQL not reachable at {PG_DSN}: {error}"


@pytest.fixture(scope="session")
def postgres_reason() -> str | None:
    return postgres_unavailable()


def require_postgres(reason: str | None) -> None:
    """No server: skip with the reason, or fail under COOPREG_REQUIRE_POSTGRES=1 (CI)."""
    if reason:
        if os.environ.get("COOPREG_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"COOPREG_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)


@contextmanager
def postgres_schema(reason: str | None) -> Iterator[str]:
    """The URL of a fresh schema, dropped afterwards (for scopes wider than a test)."""
    require_postgres(reason)
    import psycopg

    schema = f"coopreg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_DSN}?schema={schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def new_postgres_url(postgres_reason: str | None) -> Iterator[Callable[[], str]]:
    """Makes URLs of fresh PostgreSQL schemas, all dropped after the test."""
    require_postgres(postgres_reason)
    import psycopg

    schemas: list[str] = []

    def make() -> str:
        schema = f"coopreg_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        return f"{PG_DSN}?schema={schema}"

    yield make
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_url(new_postgres_url: Callable[[], str]) -> str:
    return new_postgres_url()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "memory":
        return "sqlite:///:memory:"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh store that two processes (or two applications) can open at once."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / f'shared-{uuid.uuid4().hex[:8]}.db'}"
    return request.getfixturevalue("new_postgres_url")()


@pytest.fixture
def registry(store_url: str) -> Iterator[Services]:
    services = open_registry(store_url, today=lambda: TODAY)
    try:
        yield services
    finally:
        services.close()


def partner(partner_id: str, name: str | None = None, seat: str = "Geneva",
            kind: str = "un_entity") -> dict:
    return {"command": "register_partner", "partner_id": partner_id,
            "name": name or partner_id.upper(), "kind": kind, "seat": seat}


def action(**overrides: object) -> dict:
    data = {"command": "report_action", "reporting_partner": "ohchr",
            "partners": ["ohchr", "osce-odihr"], "kind": "joint_activity",
            "occurred_on": "2014-06-12", "countries": ["UA"], "themes": ["human-rights"],
            "mechanisms": ["upr"], "summary": "Joint workshop on UPR follow-up"}
    data.update(overrides)
    return data


def agreement(**overrides: object) -> dict:
    data = {"command": "register_agreement", "reference": "ohchr-odihr-2014",
            "kind": "joint_declaration", "title": "Joint declaration OHCHR-ODIHR",
            "parties": ["ohchr", "osce-odihr"], "signed_on": "2014-06-12",
            "signed_at": "Geneva",
            "signatories": [{"name": "Navi Pillay", "title": "High Commissioner",
                             "partner": "ohchr"}],
            "commitments": [{"id": "implement-recommendations",
                             "text": "Assist governments in implementing recommendations",
                             "responsible": ["ohchr", "osce-odihr"], "cadence": "regular",
                             "fulfilled_by": ["joint_activity"]}]}
    data.update(overrides)
    return data


def run(services: Services, data: dict, by: str = "admin:test", key: str | None = None):
    return services.app.execute(load_command(data), by=by, idempotency_key=key)


@pytest.fixture
def partners(registry: Services) -> Services:
    for pid in ("ohchr", "osce-odihr", "un-desa"):
        run(registry, partner(pid))
    return registry


@contextmanager
def planned_store(path) -> Iterator[Services]:
    """A SQLite store with two partners and two caught-up actions: rows for query plans."""
    with open_registry(f"sqlite:///{path / 'plans.db'}", today=lambda: TODAY) as services:
        for pid in ("ohchr", "osce-odihr"):
            run(services, partner(pid))
        for day in ("2014-06-12", "2014-07-01"):
            run(services, action(occurred_on=day), by="partner:ohchr")
        services.follower.catch_up()
        yield services
