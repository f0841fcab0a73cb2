"""NDJSON export and import of the whole event history, streamed in pages.

The export is the stored events exactly as recorded (the state bytes as a UTF-8 string, or
base64 when they are not UTF-8), so an import into an empty store reproduces identical
events in identical order, and therefore identical projections."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from registry.domain import Problem, ValidationFailed
from registry.domain.errors import RegistryError

FORMAT = "coopreg-events/1"
PAGE = 1000

Progress = Callable[[int], None]


class ImportFailed(RegistryError):
    kind = "import-failed"

    def __init__(self, line: int, message: str, recorded: int) -> None:
        super().__init__(f"line {line}: {message} (nothing of that chunk was recorded; "
                         f"{recorded} events before it were)")
        self.line = line
        self.recorded = recorded


def export_events(recorder: ApplicationRecorder, out: TextIO,
                  progress: Progress | None = None) -> int:
    out.write(json.dumps({"format": FORMAT}) + "\n")
    count = 0
    for notification in iter_notifications(recorder):
        out.write(json.dumps(event_record(notification), ensure_ascii=False) + "\n")
        count += 1
        if progress and count % PAGE == 0:
            progress(PAGE)
    if progress:
        progress(count % PAGE)
    return count


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
                  chunk_size: int = PAGE, progress: Progress | None = None) -> ImportReport:
    """Import an export into an EMPTY store, one atomic chunk at a time. A bad line stops
    the import; its chunk records nothing; the error names the line."""
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
            position, stored = parse_event_line(line, mapper)
        except ValueError as error:
            raise ImportFailed(line_number, str(error), recorded) from None
        chunk.append((line_number, stored, position))
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


def parse_event_line(line: str, mapper: Mapper[UUID]) -> tuple[int, StoredEvent]:
    try:
        record = json.loads(line)
    except ValueError as error:
        raise ValueError(f"not JSON ({error})") from None
    if not isinstance(record, dict):
        raise ValueError("an event line is a JSON object")
    missing = {"position", "originator_id", "originator_version", "topic"} - set(record)
    if missing:
        raise ValueError(f"missing {', '.join(sorted(missing))}")
    try:
        state = (base64.b64decode(record["state_b64"], validate=True) if "state_b64" in record
                 else record["state"].encode("utf-8"))
        stored = StoredEvent(originator_id=UUID(record["originator_id"]),
                             originator_version=int(record["originator_version"]),
                             topic=str(record["topic"]), state=state)
        resolve_topic(stored.topic)
        mapper.to_domain_event(stored)  # the event must decode as this registry knows it
    except Exception as error:  # any decoding failure is the line's fault, reported as such
        raise ValueError(f"not an event this registry can read: {error}") from None
    return int(record["position"]), stored


def _insert(recorder: ApplicationRecorder, chunk: list[tuple[int, StoredEvent, int]],
            recorded: int) -> bool:
    try:
        ids = recorder.insert_events([stored for _, stored, _ in chunk])
    except Exception as error:  # the store refused the chunk: report its first line
        raise ImportFailed(chunk[0][0], f"the store refused this chunk: {error}",
                           recorded) from None
    return list(ids or []) != [position for _, _, position in chunk]
