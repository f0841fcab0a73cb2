"""Time travel for auditors: what changed between two points of the log (`coopreg audit
diff`), and the read models rebuilt as of a past point into a separate database (`coopreg
replay --until`). Both read the bitemporal columns of the read models (`valid_from`,
`valid_to`: global positions), so neither replays the log to look back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from registry.bootstrap import Services, open_registry
from registry.config import Database, parse_database
from registry.domain import invalid
from registry.io import iter_notifications
from registry.projections import Ledger, Moment
from registry.store import EventTable, Sql

Progress = Callable[[int], None]


@dataclass(frozen=True)
class VersionedTable:
    """A read-model table versioned in transaction time: `keys` name the subject a row
    is a version of; `shown` are the columns worth showing a person; a subject whose
    latest version has `withdrawn` (column, value) counts as retracted."""

    read_model: str
    table: str
    keys: tuple[str, ...]
    shown: tuple[str, ...]
    withdrawn: tuple[str, str] | None = None

    def key(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[k] for k in self.keys)


VERSIONED = (
    VersionedTable("partners", "partner_versions", ("partner_id",), ("version", "name")),
    VersionedTable("agreements", "agreement_versions", ("reference",),
                   ("version", "event", "status", "text_version", "reason")),
    VersionedTable("actions", "action_versions", ("action_id",),
                   ("version", "event", "status", "kind", "occurred_start", "reason"),
                   withdrawn=("status", "retracted")),
    VersionedTable("compliance", "compliance_obligation_versions",
                   ("reference", "commitment", "period"), ("start_on", "due_on")),
    VersionedTable("compliance", "compliance_evidence_versions",
                   ("reference", "commitment", "period", "action_id"),
                   ("occurred_start", "occurred_end", "kind")),
)


def resolve(services: Services, moment: Moment, name: str) -> int:
    """A position for a point given as a position or a recorded time, bounded by what the
    read models have applied (so both ends of a diff are points the registry has seen)."""
    reached = services.queries.position()
    position = (services.queries.position_at(moment) if isinstance(moment, datetime)
                else moment)
    if position > reached:
        raise invalid(name, "audit.beyond-log",
                      f"position {position} has not been recorded (the read models are at "
                      f"{reached})")
    return position


# -- audit diff ------------------------------------------------------------------------


@dataclass
class RecordedEvent:
    position: int
    type: str
    aggregate: str
    version: int
    recorded_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "type": self.type, "aggregate": self.aggregate,
                "version": self.version, "recorded_at": self.recorded_at}


@dataclass
class RowChange:
    """A subject of a read model between two points: added (none at A), changed (another
    version at B), or retracted (none at B, or withdrawn at B)."""

    change: str
    table: str
    subject: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    versions: int  # versions recorded in between (A, B]

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.change, "table": self.table, "subject": self.subject,
                "before": self.before, "after": self.after, "versions": self.versions}


@dataclass
class Diff:
    start: int
    end: int
    start_time: str | None
    end_time: str | None
    events: list[RecordedEvent] = field(default_factory=list)
    read_models: dict[str, list[RowChange]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"from": {"position": self.start, "recorded_at": self.start_time},
                "to": {"position": self.end, "recorded_at": self.end_time},
                "events": [e.as_dict() for e in self.events],
                "read_models": {name: [c.as_dict() for c in changes]
                                for name, changes in self.read_models.items()}}

    def counts(self, read_model: str) -> dict[str, int]:
        changes = self.read_models.get(read_model, [])
        return {kind: sum(1 for c in changes if c.change == kind)
                for kind in ("added", "changed", "retracted")}


def diff(services: Services, start: int, end: int) -> Diff:
    """The events recorded in (start, end] and, per read model, the subjects added,
    changed and retracted between the two points."""
    if start > end:
        raise invalid("B", "audit.order", f"A ({start}) must not come after B ({end})")
    clock = services.queries.clock
    result = Diff(start, end, clock.time_at(start), clock.time_at(end))
    result.events = list(_events(services, start, end))
    for versioned in VERSIONED:
        changes = _changes(services.queries.sql, versioned, start, end)
        result.read_models.setdefault(versioned.read_model, []).extend(changes)
    return result


def _events(services: Services, start: int, end: int) -> Iterator[RecordedEvent]:
    if end <= start:
        return
    sql = services.queries.sql
    names = _aggregate_names(sql)
    times = {int(r["position"]): r["recorded_at"] for r in sql.all(
        f"SELECT position, recorded_at FROM {sql.table('clock')} "
        "WHERE position > ? AND position <= ?", (start, end))}
    for n in iter_notifications(services.app.recorder, start=start + 1, stop=end):
        kind = n.topic.rpartition(":")[2]
        name = names.get(str(n.originator_id), str(n.originator_id))
        yield RecordedEvent(n.id, kind, f"{kind.partition('.')[0].lower()} {name}",
                            n.originator_version, times.get(n.id))


def _aggregate_names(sql: Sql) -> dict[str, str]:
    """Partners and agreements by the names people use (their ids are UUIDs)."""
    names = {r["partner_uuid"]: r["partner_id"] for r in sql.all(
        f"SELECT DISTINCT partner_uuid, partner_id FROM {sql.table('partner_versions')}")}
    names.update({r["agreement_id"]: r["reference"] for r in sql.all(
        f"SELECT DISTINCT agreement_id, reference FROM {sql.table('agreement_versions')}")})
    return names


def _changes(sql: Sql, versioned: VersionedTable, start: int, end: int) -> list[RowChange]:
    """Subjects whose version at `end` differs from their version at `start`: the rows
    that ended in (start, end] and were current at `start`, against the rows that began
    in (start, end] and are current at `end`."""
    table = sql.table(versioned.table)
    ended = sql.all(f"SELECT * FROM {table} WHERE valid_to > ? AND valid_to <= ?",
                    (start, end))
    began = sql.all(f"SELECT * FROM {table} WHERE valid_from > ? AND valid_from <= ?",
                    (start, end))
    before = {versioned.key(r): r for r in ended if r["valid_from"] <= start}
    after = {versioned.key(r): r for r in began
             if r["valid_to"] is None or r["valid_to"] > end}
    versions: dict[tuple[Any, ...], int] = {}
    for row in began:
        versions[versioned.key(row)] = versions.get(versioned.key(row), 0) + 1
    changes = []
    for key in sorted(set(before) | set(after), key=lambda k: [str(v) for v in k]):
        then, now = before.get(key), after.get(key)
        changes.append(RowChange(
            _kind(versioned, then, now), versioned.table, dict(zip(versioned.keys, key,
                                                                   strict=True)),
            _shown(versioned, then), _shown(versioned, now), versions.get(key, 0)))
    return changes


def _kind(versioned: VersionedTable, then: dict[str, Any] | None,
          now: dict[str, Any] | None) -> str:
    if then is None:
        return "added"
    if now is None:
        return "retracted"
    if versioned.withdrawn is not None:
        column, value = versioned.withdrawn
        if now[column] == value and then[column] != value:
            return "retracted"
    return "changed"


def _shown(versioned: VersionedTable, row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"position": row["valid_from"], **{c: row[c] for c in versioned.shown}}


# -- replay until a point, into a separate database ---------------------------------------


@dataclass
class ReplayReport:
    until: int
    events: int
    until_time: str | None
    digests: dict[str, str]  # each read model of the new database
    equal: dict[str, bool]  # each check against the source as of `until`

    @property
    def faithful(self) -> bool:
        return all(self.equal.values())


def open_target(source: Services, target_url: str) -> Services:
    """The empty database a replay writes into, with the source's plugins (compliance is
    derived by them); refused when it is the source itself or already holds events."""
    target_db = parse_database(target_url)
    if same_database(source.database, target_db):
        raise invalid("into", "replay.same-database",
                      "--into names the database being replayed; give a separate one")
    target = open_registry(target_url, rules=source.app.rules)
    existing = target.app.recorder.max_notification_id() or 0
    if existing:
        target.close()
        raise invalid("into", "replay.empty-target",
                      f"{target_db.redacted()} already holds events (up to position "
                      f"{existing}); replay into an empty database")
    return target


def replay_into(source: Services, target: Services, until: int,
                progress: Progress | None = None) -> ReplayReport:
    """Copy the events up to `until` (with their positions) into the empty `target`,
    build every read model there from them, and check the result against the source's
    read models as they stood at `until`."""
    copied = copy_events(source, target, until, progress)
    target.follower.catch_up()
    return ReplayReport(until, copied, source.queries.clock.time_at(until),
                        target.follower.digests(), _compare(source, target, until))


def same_database(a: Database, b: Database) -> bool:
    """Whether two URLs name one store (a file, or a PostgreSQL schema)."""
    if a.is_postgres != b.is_postgres:
        return False
    if a.is_postgres:
        keys = ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DBNAME")
        schema = (a.env.get("POSTGRES_SCHEMA") or "public", b.env.get("POSTGRES_SCHEMA")
                  or "public")
        return all(a.env[k] == b.env[k] for k in keys) and schema[0] == schema[1]
    first, second = a.env["SQLITE_DBNAME"], b.env["SQLITE_DBNAME"]
    if "mode=memory" in first or "mode=memory" in second:
        return first == second
    return Path(first).resolve() == Path(second).resolve()


def copy_events(source: Services, target: Services, until: int,
                progress: Progress | None = None) -> int:
    """The source's stored events up to `until`, byte for byte AND at the same positions:
    positions are the coordinates of transaction time (and PostgreSQL's may have gaps),
    which eventsourcing's insert would renumber, so the rows are written directly."""
    table = EventTable(target.app.recorder)
    sql = table.sql
    name = sql.table(table.name)
    if sql.postgres:
        as_text = target.app.recorder.datastore.originator_id_type != "uuid"  # type: ignore[attr-defined]
        insert = (f"INSERT INTO {name} (originator_id, originator_version, topic, state, "
                  "notification_id) VALUES (?,?,?,?,?)")
    else:
        as_text = False
        insert = (f"INSERT INTO {name} (originator_id, originator_version, topic, state, "
                  "rowid) VALUES (?,?,?,?,?)")
    copied, page = 0, []
    for n in iter_notifications(source.app.recorder, stop=until):
        page.append((_originator(n.originator_id, sql.postgres, as_text), n.originator_version,
                     n.topic, n.state, n.id))
        if len(page) >= 1000:
            copied += _write(sql, insert, page, progress)
            page = []
    copied += _write(sql, insert, page, progress)
    if sql.postgres and copied:
        with sql.transaction() as cursor:
            sql.execute(cursor, f"SELECT setval(pg_get_serial_sequence('{name}', "
                                "'notification_id'), ?)", (until,))
    return copied


def _originator(originator_id: UUID | str, postgres: bool, as_text: bool) -> Any:
    if not isinstance(originator_id, UUID):
        return originator_id
    if postgres:
        return str(originator_id) if as_text else originator_id
    return originator_id.hex  # as eventsourcing's SQLite recorder stores it


def _write(sql: Sql, insert: str, rows: list[tuple[Any, ...]],
           progress: Progress | None) -> int:
    if rows:
        with sql.transaction() as cursor:
            sql.executemany(cursor, insert, rows)
        if progress:
            progress(len(rows))
    return len(rows)


def _compare(source: Services, target: Services, until: int) -> dict[str, bool]:
    """Each versioned table of the new database against the source's as of `until`, the
    clock, and the transparency log's root over the same leaves."""
    equal = {}
    for versioned in VERSIONED:
        equal[versioned.table] = (as_of_digest(source.queries.sql, versioned.table, until)
                                  == as_of_digest(target.queries.sql, versioned.table, until))
    clock = "SELECT * FROM {table} WHERE position <= ?"
    equal["clock"] = (_digest(source.queries.sql, clock, "clock", until)
                      == _digest(target.queries.sql, clock, "clock", until))
    size = source.app.event_table.count(until=until)
    equal["ledger root"] = Ledger(source.queries.sql).root(size) == Ledger(
        target.queries.sql).root(size)
    return equal


def as_of_digest(sql: Sql, table: str, position: int) -> str:
    """SHA-256 over a versioned table as it stood at `position`: the rows begun by then,
    a version retired only later shown as current (as a replay up to there leaves it)."""
    rows = []
    for row in sql.all(f"SELECT * FROM {sql.table(table)} WHERE valid_from <= ?", (position,)):
        if row["valid_to"] is not None and row["valid_to"] > position:
            row["valid_to"] = None
        rows.append(json.dumps(row, sort_keys=True, default=str))
    return _hash(rows)


def _digest(sql: Sql, statement: str, table: str, position: int) -> str:
    rows = sql.all(statement.format(table=sql.table(table)), (position,))
    return _hash([json.dumps(r, sort_keys=True, default=str) for r in rows])


def _hash(rows: list[str]) -> str:
    h = hashlib.sha256()
    for row in sorted(rows):
        h.update(row.encode())
        h.update(b"\n")
    return h.hexdigest()
