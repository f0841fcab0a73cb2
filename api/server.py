"""Runs the API under gunicorn, configured from Python (what `coopreg serve` calls)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication


class Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from api.wsgi import app

        return app


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve(db: str, host: str, port: int, workers: int, threads: int) -> None:
    """Each worker process opens the store and follows the log itself; metrics of all
    workers are aggregated through a shared folder."""
    os.environ["COOPREG_DB"] = db
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="coopreg-prom-"))
    Server({"bind": f"{host}:{port}", "workers": workers, "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync", "timeout": 60,
            "graceful_timeout": 10, "accesslog": "-", "child_exit": child_exit,
            "control_socket_disable": True,  # one shared ~/.gunicorn socket otherwise
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'}).run()
