"""Read models maintained from the notification log with eventsourcing's tracking records.

Each read model is an `eventsourcing.projection.Projection` whose view is a
`TrackingRecorder` of the store in use (SQLite or PostgreSQL). The `Follower` reads the
notification log in batches and applies every projection's share of a batch, its rows and
its tracking record in ONE transaction: exactly once, resumable after a crash at any point,
and fast enough to replay history (a commit per event would not be)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import singledispatchmethod
from inspect import getattr_static
from types import MethodType
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteTrackingRecorder

from registry.store import Sql

# An index that only speeds up queries (not UNIQUE, so it enforces nothing): its name.
SECONDARY_INDEX = re.compile(r"CREATE INDEX IF NOT EXISTS (\w+) ON ")
# A plain INSERT of one whole row (no column list, no ON CONFLICT): COPY does the same.
PLAIN_INSERT = re.compile(r"^INSERT INTO (?P<table>\S+) VALUES \(\?(?:,\?)*\)$")
# Rows from which COPY beats executemany: compliance flushes a few rows before each
# amendment's look-up, and 9,600 such COPYs took 17 s of a 60k-event PostgreSQL replay.
COPY_FROM = 50


class ReadModelMixin:
    """SQL for a read model's own tables, in the batch transaction when there is one."""

    datastore: Any
    _cursor: Any = None

    def setup_sql(self, name: str) -> None:
        self.sql = Sql(self.datastore)
        self.tracking_name = name

    @contextmanager
    def batch(self, cursor: Any) -> Iterator[None]:
        self._cursor = cursor
        try:
            yield
        finally:
            self._cursor = None

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        if self._cursor is not None:
            return self.sql.execute(self._cursor, statement, params)
        with self.sql.transaction() as cursor:
            return self.sql.execute(cursor, statement, params)

    def executemany(self, statement: str, rows: list[Sequence[Any]]) -> None:
        if self._cursor is not None:
            self.sql.executemany(self._cursor, statement, rows)
        else:
            with self.sql.transaction() as cursor:
                self.sql.executemany(cursor, statement, rows)

    def copy(self, table: str, rows: list[Sequence[Any]]) -> None:
        """PostgreSQL's bulk load (COPY), in the batch transaction when there is one: the
        same rows, constraints and triggers as INSERT, at a fraction of the cost per row
        (but a few more round trips per call: see COPY_FROM)."""
        if self._cursor is not None:
            _copy(self._cursor, table, rows)
        else:
            with self.sql.transaction() as cursor:
                _copy(cursor, table, rows)

    def track(self, cursor: Any, notification_id: int) -> None:
        self._insert_tracking(cursor, Tracking(self.tracking_name, notification_id))  # type: ignore[attr-defined]

    def forget_tracking(self, cursor: Any) -> None:
        """Delete this projection's tracking row only: the table also holds eventsourcing's
        own `__migration__` row, without which it would migrate the table again."""
        table = (self.sql.table(self.tracking_table_name)  # type: ignore[attr-defined]
                 if self.sql.postgres else "tracking")
        self.sql.execute(cursor, f"DELETE FROM {table} WHERE application_name = ?",
                         (self.tracking_name,))


def _copy(cursor: Any, table: str, rows: list[Sequence[Any]]) -> None:
    with cursor.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


class SQLiteReadModel(ReadModelMixin, SQLiteTrackingRecorder):
    pass


class PostgresReadModel(ReadModelMixin, PostgresTrackingRecorder):
    pass


def read_model_for(datastore: Any, name: str) -> SQLiteReadModel | PostgresReadModel:
    """The view recorder for a projection, on the store the application uses. PostgreSQL
    gets a tracking table per projection; SQLite's one tracking table is keyed by name."""
    if "postgres" in type(datastore).__module__:
        view: Any = PostgresReadModel(datastore, tracking_table_name=f"{name}_tracking")
    else:
        view = SQLiteReadModel(datastore)
    view.create_table()
    view.setup_sql(name)
    return view


class ReadModel(Projection[TrackingRecorder]):
    """A projection whose view is a SQL read model. Subclasses declare their tables and
    register `apply` handlers (singledispatch on the event class). New rows are buffered
    and written with one executemany per statement when the batch ends."""

    tables: ClassVar[dict[str, str]] = {}  # table name -> column definitions
    indexes: ClassVar[list[str]] = []  # serve queries: a SQLite rebuild drops them meanwhile
    # Indexes the model's own handlers look rows up by: kept through a rebuild, since
    # without them each look-up scans a table that grows with the replay (quadratic).
    lookup_indexes: ClassVar[list[str]] = []
    raw: ClassVar[bool] = False  # True: process the stored notification, not the event

    def __init__(self, view: SQLiteReadModel | PostgresReadModel, rules: Any = None) -> None:
        super().__init__(view)
        self.rules = rules  # the plugin host, for read models computed by plugin hooks
        self.sql = view.sql
        self.pending: dict[str, list[Sequence[Any]]] = {}
        self._handlers: dict[type, Callable[[Any, Tracking], None]] = {}
        self.create_tables()

    def apply(self, domain_event: Any, tracking: Tracking) -> None:
        """Overridden with a singledispatchmethod; other events do not concern the model."""

    def handler(self, event_class: type) -> Callable[[Any, Tracking], None]:
        """`apply` for one event class, resolved once: a singledispatchmethod looks up the
        implementation and builds a new bound method on every call, per event replayed."""
        found = self._handlers.get(event_class)
        if found is None:
            apply = getattr_static(self, "apply")
            if isinstance(apply, singledispatchmethod):
                self.apply  # noqa: B018 (eventsourcing registers deferred handlers on access)
                found = MethodType(apply.dispatcher.dispatch(event_class), self)
            else:
                found = self.apply
            self._handlers[event_class] = found
        return found

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """eventsourcing's Projection contract: process one event and track it. Inside a
        follower batch the batch owns the transaction and the tracking record."""
        if self.model._cursor is not None:
            self.handler(type(domain_event))(domain_event, tracking)
            return
        with self.sql.transaction() as cursor, self.model.batch(cursor):
            try:
                self.apply(domain_event, tracking)
                self.flush()
                self.model.track(cursor, tracking.notification_id)
            finally:
                self.pending.clear()
                self.batch_ended()

    def buffer(self, statement: str, row: Sequence[Any]) -> None:
        self.pending.setdefault(statement, []).append(row)

    def buffer_many(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        self.pending.setdefault(statement, []).extend(rows)

    def flush(self) -> None:
        for statement, rows in self.pending.items():
            self._write_rows(statement, rows)
        self.pending.clear()

    def _write_rows(self, statement: str, rows: list[Sequence[Any]]) -> None:
        """Buffered rows, in order, in bulk: COPY on PostgreSQL (psycopg spends far more per
        row on executemany's pipeline than the server does on the insert), executemany on
        SQLite (one prepared statement; a multi-row INSERT measured no faster there)."""
        plain = (PLAIN_INSERT.match(statement)
                 if self.sql.postgres and len(rows) >= COPY_FROM else None)
        if plain is not None:
            self.model.copy(plain.group("table"), rows)
        else:
            self.model.executemany(statement, rows)

    def batch_started(self, notifications: int) -> None:
        """Hook: a follower batch of this many notifications begins (inside its
        transaction); a model may read ahead what so many events will need."""

    def batch_ended(self) -> None:
        """Hook: forget per-batch state."""

    @property
    def model(self) -> SQLiteReadModel | PostgresReadModel:
        return self.view  # type: ignore[return-value]

    def t(self, name: str) -> str:
        return self.sql.table(name)

    def create_tables(self) -> None:
        """Create what is missing. A process opening an existing store runs no DDL (on
        PostgreSQL even CREATE ... IF NOT EXISTS takes locks that can deadlock with another
        process's projection batch); creation itself is serialized by an advisory lock."""
        if self.sql.has_tables(list(self.tables)):
            if not self.sql.postgres:
                self.restore_indexes()  # after a rebuild interrupted while they were dropped
            return
        with self.sql.transaction() as cursor:
            self.sql.lock_ddl(cursor)
            for name, columns in self.tables.items():
                cursor.execute(f"CREATE TABLE IF NOT EXISTS {self.t(name)} ({columns})")
            self._create_indexes(cursor)

    def _create_indexes(self, cursor: Any) -> None:
        for index in self.lookup_indexes + self.indexes:
            cursor.execute(index.format(**{n: self.t(n) for n in self.tables}))

    def secondary_indexes(self) -> list[str]:
        """The names of the indexes that only serve queries: a full rebuild on SQLite drops
        them and builds each once at the end, instead of updating it row by row."""
        return [m.group(1) for m in map(SECONDARY_INDEX.match, self.indexes) if m]

    def drop_secondary_indexes(self) -> None:
        """SQLite only: there a write transaction locks the whole file anyway, and readers
        see the same rows with or without an index, only slower."""
        with self.sql.transaction() as cursor:
            for name in self.secondary_indexes():
                cursor.execute(f"DROP INDEX IF EXISTS {name}")

    def restore_indexes(self) -> None:
        """Create any index that is missing (SQLite)."""
        present = {r["name"] for r in self.sql.all(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        lookups = {m.group(1) for m in map(SECONDARY_INDEX.match, self.lookup_indexes) if m}
        if not (set(self.secondary_indexes()) | lookups) <= present:
            with self.sql.transaction() as cursor:
                self._create_indexes(cursor)

    def analyze(self) -> None:
        """Refresh the planner's statistics of this model's tables (PostgreSQL)."""
        with self.sql.transaction() as cursor:
            for name in self.tables:
                cursor.execute(f"ANALYZE {self.t(name)}")

    def reset(self) -> None:
        """Forget everything, so the next catch-up rebuilds from position 0."""
        with self.sql.transaction() as cursor:
            for name in self.tables:
                cursor.execute(f"DELETE FROM {self.t(name)}")
            self.model.forget_tracking(cursor)

    def position(self) -> int:
        return self.view.max_tracking_id(self.name) or 0

    def digest(self) -> str:
        """SHA-256 over every row of every table, each table's rows in the order of their
        whole content: leading columns can tie (versions of one action's tags), and
        PostgreSQL returns ties in whatever order they lie on disk, which a rebuild changes."""
        h = hashlib.sha256()
        for name in sorted(self.tables):
            rows = [json.dumps(row, sort_keys=True, default=str)
                    for row in self.sql.all(f"SELECT * FROM {self.t(name)}")]
            for row in sorted(rows):
                h.update(row.encode())
                h.update(b"\n")
        return h.hexdigest()


# json.dumps with these options builds a new encoder per call; rows are encoded per event
_ENCODER = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
