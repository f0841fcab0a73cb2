"""Database URL → eventsourcing persistence settings. The registry writes no store of its
own: SQLite and PostgreSQL are eventsourcing's persistence modules."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from registry.domain.errors import invalid

DEFAULT_DB = "sqlite:///registry.db"


@dataclass(frozen=True)
class Database:
    url: str
    env: dict[str, str]

    @property
    def is_postgres(self) -> bool:
        return self.env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"

    def redacted(self) -> str:
        parts = urlsplit(self.url)
        if parts.password:
            return self.url.replace(f":{parts.password}@", ":***@")
        return self.url


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("COOPREG_DB") or DEFAULT_DB


def parse_database(url: str) -> Database:
    """`sqlite:///path.db`, `sqlite:///:memory:` (one in-memory database per call), or
    `postgresql://user:password@host:port/dbname?schema=name`."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return Database(url, _sqlite_env(unquote(url[len("sqlite://"):])))
    if parts.scheme in ("postgresql", "postgres"):
        return Database(url, _postgres_env(url))
    raise invalid("db", "config.database-url",
                  f"unsupported database URL {url!r}: use sqlite:///path.db or "
                  "postgresql://user@host:5432/dbname")


def _sqlite_env(path: str) -> dict[str, str]:
    path = path[1:] if path.startswith("/") else path  # sqlite:///rel.db, sqlite:////abs.db
    if path in ("", ":memory:"):
        name = f"file:coopreg-{uuid.uuid4().hex}?mode=memory&cache=shared"
    else:
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise invalid("db", "config.sqlite-directory",
                          f"directory {parent} does not exist for SQLite file {path}")
        name = str(Path(path).expanduser())
    return {"PERSISTENCE_MODULE": "registry.sqlite_store:Factory", "SQLITE_DBNAME": name,
            "SQLITE_LOCK_TIMEOUT": "30"}


def _postgres_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise invalid("db", "config.postgres-dbname", f"name the database in {url!r}")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": query.get("pool_size", ["5"])[0],
        "POSTGRES_LOCK_TIMEOUT": "10",
    }
    if "schema" in query:
        env["POSTGRES_SCHEMA"] = query["schema"][0]
    return env
