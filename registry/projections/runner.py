"""The follower: catches every projection up with the notification log, in batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from registry.projections.base import ReadModel

Progress = Callable[[int], None]


class Follower:
    """Reads the application's notification log once for all projections. SQLite has no
    subscriptions in eventsourcing, so this is how its read models stay current; it works
    the same on PostgreSQL. Safe to run in several processes: the tracking records decide
    which of two racing batches counts, and the loser rolls back and re-reads."""

    def __init__(self, app: Any, projections: Sequence[ReadModel], batch_size: int = 2000):
        self.app = app
        self.projections = list(projections)
        self.batch_size = batch_size

    def positions(self) -> dict[str, int]:
        return {p.name: p.position() for p in self.projections}

    def lag(self) -> dict[str, int]:
        head = self.app.recorder.max_notification_id() or 0
        return {name: head - position for name, position in self.positions().items()}

    def catch_up(self, until: int | None = None, progress: Progress | None = None) -> int:
        """Apply every recorded event up to `until` (default: the head). Returns how many
        notifications were read."""
        read = 0
        while True:
            positions = self.positions()
            start = min(positions.values(), default=0)
            if until is not None and start >= until:
                return read
            notifications = self.app.recorder.select_notifications(
                start=start + 1, limit=self.batch_size, stop=until)
            if not notifications:
                return read
            try:
                self._apply(notifications, positions)
            except IntegrityError:
                continue  # another process recorded this batch first: re-read positions
            read += len(notifications)
            if progress:
                progress(len(notifications))

    def _apply(self, notifications: Sequence[Any], positions: dict[str, int]) -> None:
        sql = self.projections[0].sql
        to_domain_event = self.app.mapper.to_domain_event
        with sql.transaction() as cursor:
            if not sql.postgres:
                # Be a writer from the first statement. A SQLite transaction that reads,
                # then writes after another process committed, fails at once with
                # "database is locked" (its snapshot is stale; the busy timeout does not
                # apply): under write load that aborted a gunicorn worker's boot. A write
                # that changes nothing takes the lock, waiting like every other writer.
                cursor.execute("UPDATE tracking SET notification_id = notification_id "
                               "WHERE 0")
            for projection in self.projections:
                projection.model._cursor = cursor
            try:
                for notification in notifications:
                    event = None
                    for projection in self.projections:
                        if notification.id <= positions[projection.name]:
                            continue
                        if projection.topics and notification.topic not in projection.topics:
                            continue
                        if projection.raw:  # it reads the stored event, bytes and all
                            subject = notification
                        else:
                            subject = event = event or to_domain_event(notification)
                        projection.process_event(subject, Tracking(projection.name,
                                                                   notification.id))
                last = notifications[-1].id
                for projection in self.projections:
                    projection.flush()
                    if last > positions[projection.name]:
                        projection.model.track(cursor, last)
            finally:
                for projection in self.projections:
                    projection.model._cursor = None
                    projection.pending.clear()
                    projection.batch_ended()

    def rebuild(self, progress: Progress | None = None) -> int:
        for projection in self.projections:
            projection.reset()
        return self.catch_up(progress=progress)

    def digests(self) -> dict[str, str]:
        return {p.name: p.digest() for p in self.projections}
