"""Running the real `coopreg serve` (gunicorn) in a subprocess and talking to it over HTTP:
shared by the end-to-end tests and the crash-recovery and concurrency tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 20


def coopreg(db: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "registry", "--db", db, *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"coopreg {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip()


def http_call(base: str, method: str, path: str, token: str | None = None, body: Any = None,
              headers: dict[str, str] | None = None, timeout: float = 15,
              content_type: str = "application/json") -> Answer:
    """One request; an HTTP error status is an Answer too (connection errors raise)."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent.setdefault("Content-Type", content_type)
    request = urllib.request.Request(base + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, _lower(error.headers), error.read())


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def launch(db: str, folder: Path, port: int, workers: int = 2, threads: int = 4,
           log_name: str = "server.log") -> subprocess.Popen:
    """`coopreg serve` in a session of its own, so its process group (the gunicorn
    arbiter and its workers) can be signalled at once."""
    log = folder / log_name
    metrics_dir = folder / "prometheus"  # only the workers' metric files may be there
    metrics_dir.mkdir(exist_ok=True)
    # gunicorn's control socket goes to $XDG_RUNTIME_DIR (else one shared ~/.gunicorn)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "XDG_RUNTIME_DIR": str(folder)}
    env.pop("COOPREG_DB", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "registry", "--db", db, "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers), "--threads", str(threads)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n"
                                 f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"/healthz did not answer within {STARTUP_SECONDS} s:\n"
                         f"{log.read_text()[-3000:]}")


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group at once: arbiter and workers die mid-whatever,
    as in a power cut; nothing gets to clean up. Returns once every member is dead (its
    sockets, locks and database connections released), so a restart meets no survivor."""
    members = group_members(process.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in members):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {members} outlived SIGKILL")
        time.sleep(0.01)


def group_members(pgid: int) -> list[int]:
    """The processes of a process group (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid:
                members.append(int(stat.parent.name))
    return members


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie (a zombie holds no resources; orphaned
    workers may wait as zombies for a reaper that a container may not have)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's arbiter (it stops its workers), then kill the process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # any worker left behind
    if process.poll() is None:
        process.wait(timeout=5)
