"""Bearer tokens, one per principal. Only a SHA-256 of each secret is stored; comparison
is in constant time; tokens are revoked, never deleted, and listed without secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry.domain import invalid
from registry.store import Sql

ROLES = ("partner", "auditor", "admin")
PREFIX = "coopreg"


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: str
    partner: str | None
    label: str

    @property
    def name(self) -> str:
        """Who is recorded as author: `partner:osce-odihr`, `admin:ops`, `auditor:boa`."""
        return f"partner:{self.partner}" if self.role == "partner" else f"{self.role}:{self.label}"


CACHE_SECONDS = 5.0  # how long another process may still accept a token revoked elsewhere


class TokenStore:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql
        self._cache: dict[str, tuple[Principal, float]] = {}
        self.table = sql.table("api_tokens")
        if sql.has_tables(["api_tokens"]):
            return
        with sql.transaction() as cursor:
            sql.lock_ddl(cursor)
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {self.table} ("
                           "token_id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, "
                           "role TEXT NOT NULL, partner TEXT, label TEXT NOT NULL, "
                           "created_at TEXT NOT NULL, revoked_at TEXT)")

    def issue(self, role: str, partner: str | None = None, label: str = "") -> str:
        """A new token; the secret is shown once, here, and never stored."""
        if role not in ROLES:
            raise invalid("role", "token.role", f"role is one of {', '.join(ROLES)}")
        if (role == "partner") != (partner is not None):
            raise invalid("partner", "token.partner",
                          "a partner token names its partner; other roles name none")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self.sql.transaction() as cursor:
            self.sql.execute(cursor, f"INSERT INTO {self.table} VALUES (?,?,?,?,?,?,?)",
                             (token_id, _digest(secret), role, partner,
                              label or partner or role, _now(), None))
        return f"{PREFIX}_{token_id}_{secret}"

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a live token, looked up at most every CACHE_SECONDS."""
        key = _digest(token)
        cached = self._cache.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        principal = self._look_up(token)
        if principal is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (principal, time.monotonic() + CACHE_SECONDS)
        return principal

    def _look_up(self, token: str) -> Principal | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        row = self.sql.one(f"SELECT * FROM {self.table} WHERE token_id = ?", (parts[1],))
        expected = row["secret_sha256"] if row else _digest("no such token")
        matches = hmac.compare_digest(expected, _digest(parts[2]))  # also when unknown
        if not row or not matches or row["revoked_at"]:
            return None
        return Principal(row["token_id"], row["role"], row["partner"], row["label"])

    def revoke(self, token_id: str) -> bool:
        """Revoke a live token; False when there is no such live token."""
        with self.sql.transaction() as cursor:
            live = self.sql.execute(cursor, f"SELECT 1 FROM {self.table} WHERE token_id = ? "
                                    "AND revoked_at IS NULL", (token_id,)).fetchone()
            if live:
                self.sql.execute(cursor, f"UPDATE {self.table} SET revoked_at = ? "
                                 "WHERE token_id = ?", (_now(), token_id))
        self._cache.clear()
        return bool(live)

    def list(self) -> list[dict[str, Any]]:
        return self.sql.all(f"SELECT token_id, role, partner, label, created_at, revoked_at "
                            f"FROM {self.table} ORDER BY created_at, token_id")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat()
