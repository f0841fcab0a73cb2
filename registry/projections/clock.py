"""The registry's clock: which global position the registry had reached at any recorded time.

Every event gets a row `(position, recorded_at, registry_time)`: `recorded_at` is the domain
event's own timestamp; `registry_time` is the latest `recorded_at` up to and including that
position, so it never decreases along the log. "As of time T" is then one index seek on
`(registry_time, position)`: the longest prefix of the log in which every event was recorded
at or before T. While timestamps follow positions (the usual case) that is exactly the
greatest position whose event was recorded at or before T; when two writers' timestamps
interleave, an event is never shown before the time it was stamped with."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking

from registry.projections.base import ReadModel
from registry.store import Sql

MAX_POSITION = 2**62  # global positions fit a signed 64-bit integer, with room to spare
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?"
                       r"(Z|[+-]\d{2}:?\d{2})?", re.IGNORECASE)
MOMENT_HELP = ("a global position (e.g. 1200), an ISO 8601 date (2015-01-01: the end of that "
               "day, UTC) or date-time (2015-01-01T12:00:00Z; UTC when it has no offset)")

Moment = int | datetime  # a global position, or a recorded time (aware, UTC)


def parse_moment(text: str) -> Moment:
    """A position or a recorded time, from what a person types. A date means the end of
    that day in UTC (everything recorded on it counts); a date-time without an offset is
    UTC. Raises ValueError saying what is accepted."""
    value = text.strip()
    if value.isdigit():
        position = int(value)
        if position > MAX_POSITION:
            raise ValueError(f"position {value} is beyond any position the registry can "
                             f"hold (at most {MAX_POSITION})")
        return position
    try:
        if DATE.fullmatch(value):
            return datetime.combine(date.fromisoformat(value), time.max, UTC)
        if DATE_TIME.fullmatch(value):
            moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        pass  # shaped like a date but not one (2015-02-30): the same answer as any other
    raise ValueError(f"{text!r} is not {MOMENT_HELP}")


def stamp(moment: datetime) -> str:
    """Fixed-width UTC text, so that comparing strings compares times in both dialects."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class ClockProjection(ReadModel):
    name = "clock"
    tables: ClassVar[dict[str, str]] = {
        "clock": """
            position BIGINT NOT NULL, recorded_at TEXT NOT NULL, registry_time TEXT NOT NULL,
            PRIMARY KEY (position)""",
    }
    indexes: ClassVar[list[str]] = [
        "CREATE INDEX IF NOT EXISTS clock_time ON {clock} (registry_time, position)",
    ]

    def __init__(self, view: Any, rules: Any = None) -> None:
        super().__init__(view, rules)
        self.insert = f"INSERT INTO {self.t('clock')} VALUES (?,?,?)"
        self.latest: str | None = None  # registry time so far; read per batch (other writers)

    def batch_ended(self) -> None:
        self.latest = None

    def apply(self, domain_event: Any, tracking: Tracking) -> None:
        if self.latest is None:
            self.latest = Clock(self.sql, self.model.execute).latest_time() or ""
        recorded_at = stamp(domain_event.timestamp)
        self.latest = max(self.latest, recorded_at)
        self.buffer(self.insert, (tracking.notification_id, recorded_at, self.latest))


class Clock:
    """Reads the clock: positions at times and times at positions."""

    def __init__(self, sql: Sql, execute: Any = None) -> None:
        self.sql = sql
        self.table = sql.table("clock")
        self._execute = execute  # inside a projection batch: its cursor

    def _one(self, statement: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        if self._execute is not None:
            row = self._execute(statement, params).fetchone()
            return dict(row) if row is not None else None
        return self.sql.one(statement, params)

    def latest_time(self) -> str | None:
        row = self._one(f"SELECT registry_time FROM {self.table} ORDER BY position DESC LIMIT 1")
        return row["registry_time"] if row else None

    def position(self) -> int:
        """The last position the read models have applied."""
        row = self._one(f"SELECT position FROM {self.table} ORDER BY position DESC LIMIT 1")
        return int(row["position"]) if row else 0

    def position_at(self, moment: datetime) -> int:
        """The greatest position the registry had reached at `moment`; 0 before the first
        event (the empty registry)."""
        row = self._one(f"SELECT position FROM {self.table} WHERE registry_time <= ? "
                        "ORDER BY registry_time DESC, position DESC LIMIT 1", (stamp(moment),))
        return int(row["position"]) if row else 0

    def time_at(self, position: int) -> str | None:
        """The registry time at a position (None for position 0, the empty registry)."""
        row = self._one(f"SELECT registry_time FROM {self.table} WHERE position <= ? "
                        "ORDER BY position DESC LIMIT 1", (position,))
        return row["registry_time"] if row and position > 0 else None

    def resolve(self, as_of: Moment | None) -> int | None:
        """A position for `as_of`: a time becomes the position reached by then; a position
        stays as given; None (now) stays None."""
        if isinstance(as_of, datetime):
            return self.position_at(as_of)
        return as_of
