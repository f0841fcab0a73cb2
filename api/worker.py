"""Keeps the read models current in an API process: a thread that follows the log, woken
at once after a local write, and a wait that gives readers their own writes."""

from __future__ import annotations

import logging
import threading
import time

from registry.projections import Follower

log = logging.getLogger("coopreg.worker")


class ProjectionWorker:
    def __init__(self, follower: Follower, interval: float = 0.25) -> None:
        self.follower = follower
        self.interval = interval
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
                self.follower.catch_up()
            except Exception:  # keep following: a failed batch is retried on the next turn
                log.exception("projection batch failed; retrying")
                time.sleep(self.interval)
            self._wake.wait(self.interval)
            self._wake.clear()

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
