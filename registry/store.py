"""What the registry adds to eventsourcing's recorders: the event table refuses UPDATE,
DELETE and TRUNCATE at the SQL level, and a few raw reads (positions, counts)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

SQLITE_APPEND_ONLY = [
    f"CREATE TRIGGER IF NOT EXISTS {{table}}_refuse_{op.lower()} BEFORE {op} ON {{table}} "
    f"BEGIN SELECT RAISE(ABORT, '{{table}} is append-only: {op} refused'); END"
    for op in ("UPDATE", "DELETE")
]

POSTGRES_APPEND_ONLY = [
    "SELECT pg_advisory_xact_lock(hashtext('coopreg-append-only'))",
    """CREATE OR REPLACE FUNCTION {schema}.coopreg_refuse_change() RETURNS trigger
       LANGUAGE plpgsql AS $$ BEGIN
         RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
           USING ERRCODE = 'insufficient_privilege';
       END $$""",
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'coopreg_append_only'
                        AND tgrelid = '{schema}.{table}'::regclass) THEN
           CREATE TRIGGER coopreg_append_only BEFORE UPDATE OR DELETE ON {schema}.{table}
             FOR EACH ROW EXECUTE FUNCTION {schema}.coopreg_refuse_change();
           CREATE TRIGGER coopreg_append_only_truncate BEFORE TRUNCATE ON {schema}.{table}
             FOR EACH STATEMENT EXECUTE FUNCTION {schema}.coopreg_refuse_change();
         END IF;
       END $$""",
]


_reading = threading.local()  # per thread: {id(datastore): the open snapshot's cursor}


class Sql:
    """The one place that knows the two SQL dialects apart: `?` placeholders are written
    once and rewritten for psycopg; tables are qualified with the PostgreSQL schema."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self.postgres = "postgres" in type(datastore).__module__
        self.schema = getattr(datastore, "schema", "")

    def table(self, name: str) -> str:
        return f'"{self.schema}"."{name}"' if self.postgres else name

    def q(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    @contextmanager
    def transaction(self, *, commit: bool = True) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor

    def execute(self, cursor: Any, statement: str, params: Any = ()) -> Any:
        cursor.execute(self.q(statement), params)
        return cursor

    def executemany(self, cursor: Any, statement: str, rows: list[Any]) -> None:
        if rows:
            cursor.executemany(self.q(statement), rows)

    def has_tables(self, names: list[str]) -> bool:
        if self.postgres:
            rows = self.all("SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = ?", (self.schema,))
            found = {r["table_name"] for r in rows}
        else:
            found = {r["name"] for r in self.all(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        return set(names) <= found

    def has_column(self, table: str, column: str) -> bool:
        if self.postgres:
            return bool(self.all("SELECT 1 FROM information_schema.columns WHERE "
                                 "table_schema = ? AND table_name = ? AND column_name = ?",
                                 (self.schema, table, column)))
        return any(r["name"] == column for r in self.all(f"PRAGMA table_info({table})"))

    def lock_ddl(self, cursor: Any) -> None:
        """Serialize schema changes between processes (PostgreSQL; SQLite locks the file)."""
        if self.postgres:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('coopreg-ddl'))")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """This thread's reads inside share one read-only transaction: one view of the
        store, so an answer and the position it claims to show agree even while the read
        models advance (PostgreSQL is asked for REPEATABLE READ: READ COMMITTED gives each
        statement its own view). Also cheaper: a transaction per statement costs ~25 µs
        on SQLite (the pool's locks, BEGIN, ROLLBACK). Nested snapshots join the outer
        one, as do other `Sql`s of the same store. Inside, read through `Sql` only, and never
        write: SQLite's in-memory pool lets no new reader past a waiting writer, and no
        writer in while a reader is out."""
        open_ = _reading.__dict__.setdefault("cursors", {})
        if id(self.datastore) in open_:
            yield
            return
        with self.transaction(commit=False) as cursor:
            if self.postgres:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            open_[id(self.datastore)] = cursor
            try:
                yield
            finally:
                del open_[id(self.datastore)]

    def all(self, statement: str, params: Any = ()) -> list[dict[str, Any]]:
        cursor = _reading.__dict__.get("cursors", {}).get(id(self.datastore))
        if cursor is not None:
            return self._rows(cursor, statement, params)
        with self.transaction(commit=False) as cursor:
            return self._rows(cursor, statement, params)

    def _rows(self, cursor: Any, statement: str, params: Any) -> list[dict[str, Any]]:
        self.execute(cursor, statement, params)
        return [dict(row) for row in cursor.fetchall()]

    def one(self, statement: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self.all(statement, params)
        return rows[0] if rows else None


def make_append_only(sql: Sql, name: str) -> None:
    """Triggers that refuse UPDATE, DELETE (and TRUNCATE) on table `name`."""
    with sql.transaction() as cursor:
        if sql.postgres:
            for statement in POSTGRES_APPEND_ONLY:
                cursor.execute(statement.format(schema=f'"{sql.schema}"', table=f'"{name}"'))
        else:
            for statement in SQLITE_APPEND_ONLY:
                cursor.execute(statement.format(table=name))


class EventTable:
    """Raw access to the application's event table, for what the library does not offer."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self.sql = Sql(recorder.datastore)  # type: ignore[attr-defined]
        self.name = recorder.events_table_name  # type: ignore[attr-defined]
        self.position = "notification_id" if self.sql.postgres else "rowid"

    def make_append_only(self) -> None:
        make_append_only(self.sql, self.name)

    def position_of(self, originator_id: UUID, version: int) -> int | None:
        key = originator_id if self.sql.postgres else originator_id.hex
        row = self.sql.one(f"SELECT {self.position} AS position FROM {self.sql.table(self.name)} "
                           "WHERE originator_id = ? AND originator_version = ?", (key, version))
        return row["position"] if row else None

    def head(self) -> int:
        """The last position recorded (0 if none): `max_notification_id`, read through
        `Sql` so that it joins a snapshot."""
        row = self.sql.one(f"SELECT MAX({self.position}) AS head FROM {self.sql.table(self.name)}")
        return int(row["head"] or 0) if row else 0

    def count(self, until: int | None = None) -> int:
        """How many events are stored (up to a position)."""
        where, params = ("", ()) if until is None else (f" WHERE {self.position} <= ?", (until,))
        row = self.sql.one(f"SELECT COUNT(*) AS n FROM {self.sql.table(self.name)}{where}",
                           params)
        return int(row["n"]) if row else 0
