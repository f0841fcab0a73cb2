"""Keeps the read models current in an API process. Of all the processes serving one
store, only the holder of the follower lease follows the log (so gunicorn workers do not
race each other for the same batches); the others stand by and take over if it dies.
Readers wait for their own writes with `wait_for`."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import OperationalError

from registry.config import Database
from registry.projections import Follower

log = logging.getLogger("coopreg.worker")


class Lease:
    """At most one holder per store: an exclusive lock on a file beside a SQLite database,
    or a PostgreSQL advisory lock held on a connection of its own. An in-memory database
    belongs to one process, which always holds its lease."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._held: Any = None

    def acquire(self) -> bool:
        if self._held is not None:
            return self._alive()
        env = self.database.env
        if self.database.is_postgres:
            self._held = self._postgres(env)
        elif "mode=memory" in env["SQLITE_DBNAME"]:
            self._held = True
        else:
            self._held = self._lock_file(env["SQLITE_DBNAME"] + ".follower.lock")
        return self._held is not None

    def _alive(self) -> bool:
        if self.database.is_postgres:
            try:
                self._held.execute("SELECT 1")
            except Exception:  # the connection (and so the lock) is gone: stand down
                self._held = None
                return False
        return True

    @staticmethod
    def _lock_file(path: str) -> Any:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return None
        return handle

    @staticmethod
    def _postgres(env: dict[str, str]) -> Any:
        import psycopg

        connection = psycopg.connect(
            dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None, autocommit=True, connect_timeout=5)
        key = f"coopreg-follower:{env.get('POSTGRES_SCHEMA', 'public')}"
        row = connection.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
        if row and row[0]:
            return connection
        connection.close()
        return None


class ProjectionWorker:
    def __init__(self, follower: Follower, database: Database, interval: float = 0.02,
                 standby: float = 1.0, checkpoint: Callable[[], Any] | None = None,
                 checkpoint_every: float = 1.0) -> None:
        self.follower = follower
        self.lease = Lease(database)
        self.interval, self.standby = interval, standby
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self._signed_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coopreg-projections",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def nudge(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                leading = self.lease.acquire()
                if leading:
                    self.follower.catch_up()
                    self._sign()
            except OperationalError as error:  # e.g. SQLite busy: the batch rolled back
                log.warning("projection batch deferred: %s", error)
                leading = False
            except Exception:  # keep going: a failed batch is retried on the next turn
                log.exception("projection batch failed; retrying")
                leading = False
            self._wake.wait(self.interval if leading else self.standby)
            self._wake.clear()

    def _sign(self) -> None:
        """The follower signs the grown tree, at most once per `checkpoint_every` seconds
        (signing is cheap, but one checkpoint per write would bloat the table)."""
        now = time.monotonic()
        if self.checkpoint is not None and now - self._signed_at >= self.checkpoint_every:
            self.checkpoint()
            self._signed_at = now

    def position(self) -> int:
        return min(self.follower.positions().values(), default=0)

    def wait_for(self, position: int, timeout: float) -> bool:
        """True once every read model includes `position`, False after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.position() < position:
            if time.monotonic() >= deadline:
                return False
            self.nudge()
            time.sleep(0.005)
        return True
