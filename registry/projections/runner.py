"""The follower: catches every projection up with the notification log, in batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from registry.projections.base import ReadModel

Progress = Callable[[int], None]
# The SQLite page cache of a connection that applies batches: at most this much more memory
# for each pooled connection (one, in a single-threaded replay).
BATCH_CACHE_KIB = 16 * 1024


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
                if self.positions() == positions:
                    raise  # nobody moved on: the batch itself conflicts (a tampered log)
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
                # A batch inserts at scattered places in a dozen B-trees: far more pages than
                # SQLite's default cache (2 MiB) holds. A larger one, kept by the connection,
                # made a rebuild of 20 000 events about a third cheaper in CPU.
                cursor.execute(f"PRAGMA cache_size = {-BATCH_CACHE_KIB}")
            for projection in self.projections:
                projection.model._cursor = cursor
                projection.batch_started(len(notifications))
            try:
                self._dispatch(notifications, positions, to_domain_event)
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

    def _dispatch(self, notifications: Sequence[Any], positions: dict[str, int],
                  to_domain_event: Callable[[Any], Any]) -> None:
        """Hand each notification to every projection that has not seen it and follows its
        topic, inside the batch's transaction; decode it at most once, and only if some
        projection wants the event rather than the stored notification."""
        wanted = [(p, positions[p.name], frozenset(p.topics) if p.topics else None, p.raw)
                  for p in self.projections]
        for notification in notifications:
            event = None
            for projection, position, topics, raw in wanted:
                if notification.id <= position or (topics is not None
                                                   and notification.topic not in topics):
                    continue
                if raw:  # it reads the stored event, bytes and all
                    subject = notification
                else:
                    if event is None:
                        event = to_domain_event(notification)
                    subject = event
                projection.handler(type(subject))(subject, Tracking(projection.name,
                                                                    notification.id))

    def rebuild(self, progress: Progress | None = None) -> int:
        """Every read model again from position 0. On SQLite the indexes that only serve
        queries are dropped first and built once at the end (an interrupted rebuild leaves
        them to the next open): far cheaper than keeping them up to date row by row. On
        PostgreSQL the rewritten tables are analyzed at the end: without statistics (a
        server without autovacuum) the planner took a 1M-row table for a small one."""
        postgres = bool(self.projections) and self.projections[0].sql.postgres
        for projection in self.projections:
            if not postgres:
                projection.drop_secondary_indexes()
            projection.reset()
        try:
            return self.catch_up(progress=progress)
        finally:
            for projection in self.projections:
                if postgres:
                    projection.analyze()
                else:
                    projection.restore_indexes()

    def digests(self) -> dict[str, str]:
        return {p.name: p.digest() for p in self.projections}
