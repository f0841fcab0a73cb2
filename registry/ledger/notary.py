"""The log's notary: signs checkpoints of the Merkle tree, keeps every one it signed in an
append-only table, and writes the latest to a witness file beside the key, outside the
database, so a database rolled back to an older copy cannot hide what was signed."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.config import Database
from registry.domain.errors import RegistryError
from registry.ledger.notes import Checkpoint, SigningKey, parse_body
from registry.projections.ledger import Ledger
from registry.store import Sql, make_append_only

TABLE = "log_checkpoints"
KEY_ENV = "COOPREG_SIGNING_KEY"


class NoSigningKey(RuntimeError):
    """The registry was given no signing key (`coopreg init` creates one)."""


class SigningKeyUnusable(RegistryError):
    """The signing key's file exists but cannot serve: unreadable, too open, or no key."""

    kind = "signing-key-unusable"


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.checkpoint.as_dict(), "note": self.note}


def default_key_path(database: Database) -> Path | None:
    """COOPREG_SIGNING_KEY, else beside a SQLite file (`registry.db.signing-key`), else one
    per PostgreSQL database and schema under ~/.config/coopreg. None for a memory store."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    env = database.env
    if database.is_postgres:
        where = (f"{env['POSTGRES_HOST']}-{env['POSTGRES_PORT']}-{env['POSTGRES_DBNAME']}-"
                 f"{env.get('POSTGRES_SCHEMA', 'public')}")
        return Path.home() / ".config" / "coopreg" / f"{where}.signing-key"
    if "mode=memory" in env["SQLITE_DBNAME"]:
        return None
    return Path(env["SQLITE_DBNAME"] + ".signing-key")


def ensure_key(database: Database) -> tuple[Path | None, bool]:
    """The database's signing key path, creating the key if it is missing; and whether it
    was created now."""
    path = default_key_path(database)
    if path is None or path.exists():
        return path, False
    SigningKey.create(path)
    return path, True


def _load_key(path: Path) -> SigningKey | None:
    if not path.exists():
        return None
    try:
        return SigningKey.load(path)
    except (OSError, ValueError, TypeError) as error:  # cryptography says ValueError
        raise SigningKeyUnusable(f"the signing key {path} cannot be used: {error}") from None


def witness_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".checkpoint")


class Notary:
    def __init__(self, sql: Sql, ledger: Ledger, key: SigningKey | None,
                 witness: Path | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.sql, self.ledger, self.key = sql, ledger, key
        self.witness, self.clock = witness, clock
        self.table = sql.table(TABLE)
        self._create_table()

    @classmethod
    def for_database(cls, sql: Sql, ledger: Ledger, database: Database,
                     key_path: Path | None = None) -> Notary:
        """The notary with the database's key if it exists (an in-memory store gets a key
        of its own that lives as long as the process)."""
        path = key_path or default_key_path(database)
        if path is None:
            return cls(sql, ledger, SigningKey.generate())
        return cls(sql, ledger, _load_key(path), witness_path(path))

    def _create_table(self) -> None:
        if self.sql.has_tables([TABLE]):
            return
        ident = ("id BIGSERIAL PRIMARY KEY" if self.sql.postgres
                 else "id INTEGER PRIMARY KEY AUTOINCREMENT")
        with self.sql.transaction() as cursor:
            self.sql.lock_ddl(cursor)
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {self.table} ({ident}, "
                           "size BIGINT NOT NULL UNIQUE, note TEXT NOT NULL)")
        make_append_only(self.sql, TABLE)

    # -- reading ------------------------------------------------------------------------

    def latest(self) -> SignedCheckpoint | None:
        row = self.sql.one(f"SELECT size, note FROM {self.table} ORDER BY size DESC LIMIT 1")
        return self._signed(row) if row else None

    def at_size(self, size: int) -> SignedCheckpoint | None:
        row = self.sql.one(f"SELECT size, note FROM {self.table} WHERE size = ?", (size,))
        return self._signed(row) if row else None

    def notes(self) -> list[tuple[int, str]]:
        """Every stored checkpoint as (size, note), smallest first (for verifiers)."""
        return [(int(r["size"]), r["note"])
                for r in self.sql.all(f"SELECT size, note FROM {self.table} ORDER BY size")]

    def _signed(self, row: dict[str, Any]) -> SignedCheckpoint:
        body = row["note"].partition("\n\n")[0] + "\n"
        return SignedCheckpoint(parse_body(body, body.partition("\n")[0]), row["note"])

    # -- signing ------------------------------------------------------------------------

    def checkpoint(self, size: int | None = None) -> SignedCheckpoint:
        """The checkpoint of the tree at `size` (default: its current size): the stored
        one, or a new one signed now."""
        head = self.ledger.size()
        size = head if size is None else size
        if not 0 <= size <= head:
            raise ValueError(f"the log has {head} leaves; no checkpoint of {size}")
        return self.at_size(size) or self._sign(size)

    def sign_head(self) -> SignedCheckpoint | None:
        """Sign the tree's current size if no checkpoint covers it yet."""
        latest = self.latest()
        size = self.ledger.size()
        if self.key is None or (latest and latest.checkpoint.size >= size):
            return None
        return self._sign(size)

    def _sign(self, size: int) -> SignedCheckpoint:
        if self.key is None:
            raise NoSigningKey("the log has no signing key: run `coopreg init`, or set "
                               f"{KEY_ENV} to the key's path")
        checkpoint = Checkpoint(self.key.name, size, self.ledger.root(size), self.clock())
        note = self.key.sign(checkpoint)
        with self.sql.transaction() as cursor:
            self.sql.execute(cursor, f"INSERT INTO {self.table} (size, note) VALUES (?, ?) "
                             "ON CONFLICT (size) DO NOTHING", (size, note))
        stored = self.at_size(size)  # a racing process may have signed this size first
        assert stored is not None
        self._witness(stored)
        return stored

    def _witness(self, signed: SignedCheckpoint) -> None:
        """Keep the largest checkpoint ever signed in a file outside the database (under a
        lock, so two processes never replace a larger one with a smaller)."""
        if self.witness is None:
            return
        lock = os.open(f"{self.witness}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = read_witness(self.witness)
            if current is None or current[0] < signed.checkpoint.size:
                partial = self.witness.with_name(f"{self.witness.name}.{os.getpid()}")
                partial.write_text(signed.note)
                os.replace(partial, self.witness)
        finally:
            os.close(lock)


def read_witness(path: Path) -> tuple[int, str] | None:
    """(size, note) of the witness file, if there is one."""
    try:
        note = path.read_text()
    except FileNotFoundError:
        return None
    lines = note.split("\n")
    return (int(lines[1]), note) if len(lines) > 2 and lines[1].isdigit() else None
