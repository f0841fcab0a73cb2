"""NDJSON export and import of the whole event history, streamed in pages.

The export is the stored events exactly as recorded (the state bytes as a UTF-8 string, or
base64 when they are not UTF-8), so an import into an empty store reproduces identical
events in identical order, and therefore identical projections. An export of the
transparency log also gives each event the leaf index and hash the log recorded for it and
ends with the signed checkpoint of exactly the exported size (docs/audit.md); the import
ignores both."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import ApplicationRecorder, Mapper, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic

from registry.domain import Problem, ValidationFailed
from registry.domain.errors import RegistryError
from registry.store import Sql

FORMAT = "coopreg-events/1"
PAGE = 1000
# Events per atomic chunk of an import into SQLite: one transaction, so one WAL commit and
# one checkpoint. Each event inserts at a random place in the events table's
# (originator_id, originator_version) index (~4.7 MB per 100k events); a commit writes
# every index page its chunk touched, twice (WAL, then checkpoint), and at 1M events a
# chunk of 1000 touched nearly one index page per event. Chunks of 25,000 touch each page
# for many events: 1M events wrote 4.2 GB instead of 10.7 GB.
IMPORT_CHUNK = 25_000
# The SQLite page cache of the importing connection, for one chunk's dirty pages (table
# and index, ~70 MB at 1M events) and the index: with the default 2 MiB a chunk spilled to
# the WAL before its commit and read index pages back from the OS (sys time 13.6 -> 7.5 s
# at 1M with chunks of 10,000). Kept by the connection, as the follower's is.
IMPORT_CACHE_KIB = 128 * 1024
# PostgreSQL keeps chunks of PAGE: eventsourcing inserts a chunk as one statement in a
# psycopg pipeline, and a chunk of 10,000 events (a ~20 MB statement) hung there for good,
# server and client each waiting to read (as in psycopg/psycopg#685).

Progress = Callable[[int], None]


class ImportFailed(RegistryError):
    kind = "import-failed"

    def __init__(self, line: int, message: str, recorded: int) -> None:
        super().__init__(f"line {line}: {message} (nothing of that chunk was recorded; "
                         f"{recorded} events before it were)")
        self.line = line
        self.recorded = recorded


# The leaves the log recorded for the positions first..last: {position: (index, hex hash)}.
RecordedLeaves = Callable[[int, int], dict[int, tuple[int, str]]]


@dataclass
class LogExport:
    """What an export of the transparency log adds to the events."""

    leaves: RecordedLeaves
    checkpoint: Callable[[int], str | None]  # the signed note of a size; None without a key
    size: int  # the log's size: the export stops at the event of this leaf
    stored: Sequence[tuple[int, str]] = ()  # more checkpoints (size, note) to interleave


def export_events(recorder: ApplicationRecorder, out: TextIO,
                  progress: Progress | None = None, log: LogExport | None = None) -> int:
    """Write the header and every event (with `log`: the events the log holds, each with
    its recorded leaf, the stored checkpoints after the event at their size, and the
    checkpoint of the exported size last). Returns how many events were written."""
    out.write(json.dumps({"format": FORMAT}) + "\n")
    count = 0
    stored = dict(log.stored) if log else {}
    for page in _pages(recorder, log.size if log else None):
        leaves = log.leaves(page[0].id, page[-1].id) if log else {}
        for notification in page:
            if count in stored:  # a checkpoint of `count` leaves follows the count-th event
                _write_checkpoint(out, stored.pop(count))
            record = event_record(notification)
            if notification.id in leaves:
                record["leaf_index"], record["leaf_hash"] = leaves[notification.id]
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        if progress:
            progress(len(page))
    if log:
        _end_with_checkpoints(out, log, count, stored)
    return count


def _pages(recorder: ApplicationRecorder, size: int | None) -> Iterator[list[Any]]:
    """Pages of notifications; with `size`, only the first `size` of them."""
    page: list[Any] = []
    left = size
    for notification in iter_notifications(recorder):
        if left is not None:
            if left == 0:
                break
            left -= 1
        page.append(notification)
        if len(page) == PAGE:
            yield page
            page = []
    if page:
        yield page


def _end_with_checkpoints(out: TextIO, log: LogExport, count: int,
                          stored: dict[int, str]) -> None:
    """Checkpoints of sizes beyond the exported events (a verifier reports them as a
    truncated log), then the checkpoint of the exported size, last (once)."""
    for size in sorted(s for s in stored if s > count):
        _write_checkpoint(out, stored[size])
    final = log.checkpoint(count)
    if final is not None:
        _write_checkpoint(out, final)


def _write_checkpoint(out: TextIO, note: str) -> None:
    out.write(json.dumps({"checkpoint": note}, ensure_ascii=False) + "\n")


def recorded_leaves(sql: Sql) -> RecordedLeaves:
    """The leaves the `ledger` read model recorded, by position range."""
    statement = (f"SELECT position, leaf_index, leaf_hash FROM {sql.table('ledger_leaves')} "
                 "WHERE position BETWEEN ? AND ?")

    def leaves(first: int, last: int) -> dict[int, tuple[int, str]]:
        return {int(r["position"]): (int(r["leaf_index"]), r["leaf_hash"])
                for r in sql.all(statement, (first, last))}

    return leaves


def iter_notifications(recorder: ApplicationRecorder, start: int = 1,
                       stop: int | None = None) -> Iterator[Any]:
    while True:
        page = recorder.select_notifications(start=start, limit=PAGE, stop=stop)
        yield from page
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def event_record(notification: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "position": notification.id, "originator_id": str(notification.originator_id),
        "originator_version": notification.originator_version, "topic": notification.topic}
    try:
        record["state"] = notification.state.decode("utf-8")
    except UnicodeDecodeError:
        record["state_b64"] = base64.b64encode(notification.state).decode()
    return record


@dataclass
class ImportReport:
    events: int
    renumbered: bool


def import_events(recorder: ApplicationRecorder, mapper: Mapper[UUID], lines: Iterable[str],
                  chunk_size: int | None = None,
                  progress: Progress | None = None) -> ImportReport:
    """Import an export into an EMPTY store, one atomic chunk at a time (`chunk_size`
    events; by default IMPORT_CHUNK on SQLite, PAGE on PostgreSQL). A bad line stops the
    import; its chunk records nothing; the error names the line."""
    if chunk_size is None:
        chunk_size = IMPORT_CHUNK if isinstance(recorder, SQLiteApplicationRecorder) else PAGE
    existing = recorder.max_notification_id() or 0
    if existing:
        raise ValidationFailed([Problem("db", "import.empty-store",
                                        f"import needs an empty store; this one already has "
                                        f"events up to position {existing}")])
    chunk: list[tuple[int, StoredEvent, int]] = []
    recorded, renumbered = 0, False
    for line_number, line in enumerate(lines, start=1):
        if line_number == 1 and _is_header(line, recorded):
            continue
        if not line.strip():
            continue
        try:
            parsed = parse_event_line(line, mapper)
        except ValueError as error:
            raise ImportFailed(line_number, str(error), recorded) from None
        if parsed is None:  # a checkpoint: the target store's log signs its own
            continue
        chunk.append((line_number, parsed[1], parsed[0]))
        if len(chunk) >= chunk_size:
            renumbered |= _insert(recorder, chunk, recorded)
            recorded += len(chunk)
            if progress:
                progress(len(chunk))
            chunk = []
    if chunk:
        renumbered |= _insert(recorder, chunk, recorded)
        recorded += len(chunk)
        if progress:
            progress(len(chunk))
    return ImportReport(recorded, renumbered)


def _is_header(line: str, recorded: int) -> bool:
    try:
        header = json.loads(line)
    except ValueError:
        raise ImportFailed(1, "not JSON", recorded) from None
    if isinstance(header, dict) and "format" in header:
        if header["format"] != FORMAT:
            raise ImportFailed(1, f"unknown export format {header['format']!r}; "
                               f"expected {FORMAT}", recorded)
        return True
    return False


REQUIRED = frozenset({"position", "originator_id", "originator_version", "topic"})


def parse_event_line(line: str, mapper: Mapper[UUID]) -> tuple[int, StoredEvent] | None:
    """An event line's position and stored event; None for a checkpoint line. The recorded
    leaf (`leaf_index`, `leaf_hash`) is ignored: the target's log recomputes it."""
    try:
        record = json.loads(line)
    except ValueError as error:
        raise ValueError(f"not JSON ({error})") from None
    if not isinstance(record, dict):
        raise ValueError("an event line is a JSON object")
    if len(record) == 1 and "checkpoint" in record:
        return None
    if not record.keys() >= REQUIRED:
        raise ValueError(f"missing {', '.join(sorted(REQUIRED - record.keys()))}")
    try:
        state = (base64.b64decode(record["state_b64"], validate=True) if "state_b64" in record
                 else record["state"].encode("utf-8"))
        stored = StoredEvent(originator_id=UUID(record["originator_id"]),
                             originator_version=int(record["originator_version"]),
                             topic=str(record["topic"]), state=state)
        _check_event_topic(stored.topic)
        mapper.to_domain_event(stored)  # the event must decode as this registry knows it
    except Exception as error:  # any decoding failure is the line's fault, reported as such
        raise ValueError(f"not an event this registry can read: {error}") from None
    return int(record["position"]), stored


@cache  # a topic that passed once passes again (classes stay imported); refusals are not kept
def _check_event_topic(topic: str) -> None:
    """Only the registry's own event classes: a topic names a module to import, and a file
    must not make the registry import (and run) whatever module it names."""
    module = topic.partition(":")[0]
    if not module.startswith("registry.") or module not in sys.modules:
        raise ValueError(f"{topic!r} is not an event class of this registry")
    if not issubclass(resolve_topic(topic), DomainEvent):
        raise ValueError(f"{topic!r} is not an event class")


def _insert(recorder: ApplicationRecorder, chunk: list[tuple[int, StoredEvent, int]],
            recorded: int) -> bool:
    try:
        ids = _insert_events(recorder, [stored for _, stored, _ in chunk])
    except Exception as error:  # the store refused the chunk: report its first line
        raise ImportFailed(chunk[0][0], f"the store refused this chunk: {error}",
                           recorded) from None
    return list(ids or []) != [position for _, _, position in chunk]


def _insert_events(recorder: ApplicationRecorder, events: list[StoredEvent]) -> Any:
    """The recorder's own insert, in one transaction. On SQLite that transaction first
    raises the connection's page cache (kept by the connection, as the follower's is):
    what SQLiteAggregateRecorder.insert_events does, plus the PRAGMA."""
    if not isinstance(recorder, SQLiteApplicationRecorder):
        return recorder.insert_events(events)
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"PRAGMA cache_size = {-IMPORT_CACHE_KIB}")
        return recorder._insert_events(cursor, events)
