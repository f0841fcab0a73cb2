"""HTTP load benchmark: the registry's API under gunicorn against a bare Flask baseline.

Measures, on loopback (127.0.0.1) only, in one run:

1. writes       -- POST /v1/actions with valid `report_action` bodies (ohchr with
                   osce-odihr, OSCE participating States, 2015-2024);
2. list reads   -- GET /v1/actions?country=UA&limit=20;
3. single reads -- GET /v1/actions/{id}, ids taken from the writes;

each at concurrency C (keep-alive `http.client` connections, in load processes of their
own) for D seconds or N requests, whichever comes first, against

- the registry: `python -m registry serve` (gunicorn, W workers x T threads) on a fresh
  store with the demo loaded and a partner token issued through the CLI, and
- the baseline: a bare Flask app in this file, under gunicorn with the same settings, whose
  POST saves the equivalent aggregate (`RawAction`, as in bench/core.py) with a raw
  eventsourcing `Application` into its own store, and whose GETs read rows of a plain
  table (the equivalent of a projection read).

Figures are read as ratios against the baseline measured in the same run. Then the
registry's POST path is profiled in-process (create_app + Flask test client) with cProfile.

    python bench/http_load.py [--seconds 10] [--concurrency 8] [--workers 2] [--threads 4]
                         [--db sqlite|postgres] [--repeats 2] [--quick] [--json PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run from a checkout: `python bench/http_load.py`
    sys.path.insert(0, str(ROOT))

import argparse
import contextlib
import cProfile
import io
import json
import math
import multiprocessing
import os
import platform
import pstats
import random
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.client import HTTPConnection, HTTPException
from importlib.metadata import version
from typing import Any
from uuid import UUID

from baseline import RawAction, RawApp

from registry.config import parse_database

HOST = "127.0.0.1"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_JSON = ROOT / "bench" / "results" / "http.json"
BY = "partner:ohchr"
LIST_PATH = "/v1/actions?country=UA&limit=20"
PHASES = {  # name -> (label, target requests/s, target p99 in ms)
    "write": ("POST /v1/actions", 1000.0, 50.0),
    "list": ("GET ?country=UA&limit=20", 3000.0, 20.0),
    "get": ("GET /v1/actions/{id}", 3000.0, 20.0),
}
QUICK = {"seconds": 1.5, "warmup": 0.25, "repeats": 1, "profile_requests": 100}

# The 57 OSCE participating States, each participating throughout 2015-2024
# (plugins/data/osce.json), so `osce.participating-state` accepts every body.
OSCE_STATES = ("AD", "AL", "AM", "AT", "AZ", "BA", "BE", "BG", "BY", "CA", "CH", "CY", "CZ", "DE",
               "DK", "EE", "ES", "FI", "FR", "GB", "GE", "GR", "HR", "HU", "IE", "IS", "IT", "KG",
               "KZ", "LI", "LT", "LU", "LV", "MC", "MD", "ME", "MK", "MN", "MT", "NL", "NO", "PL",
               "PT", "RO", "RS", "RU", "SE", "SI", "SK", "SM", "TJ", "TM", "TR", "UA", "US", "UZ",
               "VA")
KINDS = ("joint_activity", "information_shared", "meeting_attended", "joint_mission",
         "consultation", "training", "statement_delivered", "submission_to_mechanism",
         "expert_meeting_held", "outputs_transmitted")
THEMES = ("democracy", "rule-of-law", "human-rights", "non-discrimination", "gender-equality",
          "human-rights-education", "combating-trafficking", "legislation-review",
          "freedom-of-expression")
MECHANISMS = ("upr", "ccpr", "cedaw", "cat", "crc", "cerd", "crpd", "special-procedures")
FIRST_DAY, DAYS = date(2015, 1, 1), (date(2024, 12, 31) - date(2015, 1, 1)).days


# -- workload -------------------------------------------------------------------------


def action_body(rng: random.Random, serial: str) -> dict[str, Any]:
    """A valid POST /v1/actions body: reported by ohchr (the token's partner) with
    osce-odihr; a third of them name UA, so the list read has plenty to page through."""
    start = FIRST_DAY + timedelta(days=rng.randrange(DAYS - 5))
    occurred: Any = start.isoformat()
    if rng.random() < 0.3:
        occurred = {"start": start.isoformat(),
                    "end": (start + timedelta(days=rng.randrange(1, 5))).isoformat()}
    countries = rng.sample(OSCE_STATES, rng.randint(1, 3))
    if "UA" not in countries and rng.random() < 0.33:
        countries[0] = "UA"
    kind = rng.choice(KINDS)
    return {"partners": ["ohchr", "osce-odihr"], "kind": kind, "occurred_on": occurred,
            "countries": countries, "themes": rng.sample(THEMES, rng.randint(1, 3)),
            "mechanisms": rng.sample(MECHANISMS, rng.randint(0, 2)),
            "summary": f"{kind.replace('_', ' ').capitalize()} on {', '.join(countries)} "
                       f"(load test {serial})."}


# -- the baseline: a bare Flask app over raw eventsourcing ------------------------------


class RowTable:
    """The baseline's 'projection': one JSON row per action and a country index, in a plain
    table of the same store, filled by `project()` between the write and read phases."""

    def __init__(self, app: RawApp) -> None:
        self.app = app
        self.datastore = app.factory.datastore  # type: ignore[attr-defined]
        self.postgres = "postgres" in type(self.datastore).__module__
        self.prefix = f'"{self.datastore.schema}".' if self.postgres else ""
        self.lock = threading.Lock()

    def q(self, statement: str) -> str:
        statement = statement.replace("{t}", self.prefix)
        return statement.replace("?", "%s") if self.postgres else statement

    def create(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            for statement in (
                "CREATE TABLE IF NOT EXISTS {t}raw_rows (action_id TEXT PRIMARY KEY, "
                "occurred_start TEXT NOT NULL, body TEXT NOT NULL)",
                "CREATE TABLE IF NOT EXISTS {t}raw_countries (country TEXT NOT NULL, "
                "occurred_start TEXT NOT NULL, action_id TEXT NOT NULL, "
                "PRIMARY KEY (country, occurred_start, action_id))",
                "CREATE TABLE IF NOT EXISTS {t}raw_position (position BIGINT NOT NULL)",
            ):
                cursor.execute(self.q(statement))

    def select(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.q(statement), params)
            return [row["body"] for row in cursor.fetchall()]

    def project(self, upto: int | None) -> int:
        """Catch the row table up with the notification log (up to position `upto`); how
        many rows it has."""
        with self.lock:
            while True:
                with self.datastore.transaction(commit=True) as cursor:
                    cursor.execute(self.q("SELECT MAX(position) AS p FROM {t}raw_position"))
                    start = (cursor.fetchone()["p"] or 0) + 1
                    notifications = self.app.recorder.select_notifications(start, 1000,
                                                                           stop=upto)
                    if not notifications:
                        cursor.execute(self.q("SELECT COUNT(*) AS body FROM {t}raw_rows"))
                        return int(cursor.fetchone()["body"])
                    for notification in notifications:
                        e = self.app.mapper.to_domain_event(notification)
                        facts = e.facts  # type: ignore[attr-defined]
                        occurred = facts["occurred_on"]
                        body = {"id": str(e.originator_id), "version": e.originator_version,
                                "position": notification.id, "recorded_by": e.recorded_by,
                                "recorded_at": e.timestamp.isoformat(), **facts}
                        row_id = str(e.originator_id)
                        start = occurred if isinstance(occurred, str) else occurred["start"]
                        cursor.execute(self.q("INSERT INTO {t}raw_rows VALUES (?, ?, ?)"),
                                       (row_id, start, json.dumps(body)))
                        for country in facts["countries"]:
                            cursor.execute(
                                self.q("INSERT INTO {t}raw_countries VALUES (?, ?, ?)"),
                                (country, start, row_id))
                    cursor.execute(self.q("INSERT INTO {t}raw_position VALUES (?)"),
                                   (notifications[-1].id,))


def baseline_app(url: str) -> Any:
    from flask import Flask, abort, request

    app = Flask("baseline")
    raw = RawApp(parse_database(url).env)  # the registry's store settings
    rows = RowTable(raw)

    @app.post("/v1/actions")
    def post_action() -> Any:
        facts = {**request.get_json(), "reporting_partner": "ohchr"}
        action = RawAction(facts=facts, recorded_by=BY,
                           evaluation={"rules": [], "findings": []})
        recordings = raw.save(action)
        return {"aggregate": "action", "id": str(action.id), "version": action.version,
                "position": recordings[-1].notification.id, "warnings": []}, 201

    @app.get("/v1/actions")
    def list_actions() -> Any:
        limit = int(request.args.get("limit", 100))
        bodies = rows.select(  # an index range scan in order, like the registry's query
            "SELECT r.body AS body FROM {t}raw_countries c JOIN {t}raw_rows r "
            "ON r.action_id = c.action_id WHERE c.country = ? "
            "ORDER BY c.occurred_start, c.action_id LIMIT ?",
            (request.args.get("country", ""), limit))
        return {"items": [json.loads(b) for b in bodies], "next": None}

    @app.get("/v1/actions/<uuid:action_id>")
    def get_action(action_id: UUID) -> Any:
        bodies = rows.select("SELECT body AS body FROM {t}raw_rows WHERE action_id = ?",
                             (str(action_id),))
        if not bodies:
            abort(404)
        body = json.loads(bodies[0])
        return {**body, "history": [body]}

    @app.post("/_project")
    def project() -> Any:
        upto = request.args.get("upto")
        return {"rows": rows.project(int(upto) if upto else None)}

    @app.get("/healthz")
    def health() -> Any:
        return {"status": "ok"}

    return app


def gunicorn_options(bind: str, workers: int, threads: int) -> dict[str, Any]:
    """The registry's own gunicorn settings (api/server.py), access log included."""
    return {"bind": bind, "workers": workers, "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync", "timeout": 60,
            "graceful_timeout": 10, "accesslog": "-",
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
            "control_socket_disable": True}


def serve_baseline(bind: str, url: str, workers: int, threads: int) -> None:
    """Run the baseline under gunicorn (the `--serve-baseline` mode of this script)."""
    from gunicorn.app.base import BaseApplication

    setup = RawApp(parse_database(url).env)  # create the tables once, before the workers
    RowTable(setup).create()
    setup.close()

    class Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_options(bind, workers, threads).items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return baseline_app(url)

    Gunicorn().run()


# -- stores ---------------------------------------------------------------------------


class Store:
    """Fresh SQLite files in one temporary directory, or fresh PostgreSQL schemas; every
    one is removed by `close()`."""

    def __init__(self, kind: str, pg_url: str) -> None:
        self.kind = kind
        self.pg_url = pg_url
        self.dir = tempfile.TemporaryDirectory(prefix="coopreg-bench-http-")
        self.schemas: list[str] = []
        self._conn: Any = None
        if kind == "postgres":
            import psycopg

            self._conn = psycopg.connect(pg_url.split("?")[0], autocommit=True,
                                         connect_timeout=5)

    def fresh(self, label: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{Path(self.dir.name) / f'{label}.db'}"
        from psycopg import sql

        schema = f"bench_http_{os.getpid()}_{label}"
        self._conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        self.schemas.append(schema)
        return f"{self.pg_url}{'&' if '?' in self.pg_url else '?'}schema={schema}"

    def close(self) -> None:
        if self._conn is not None:
            from psycopg import sql

            for schema in self.schemas:
                self._conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                                   .format(sql.Identifier(schema)))
            self._conn.close()
        self.dir.cleanup()


def cli(url: str, *words: str) -> str:
    """`python -m registry --db URL ...`, its standard output."""
    done = subprocess.run([sys.executable, "-m", "registry", "--db", url, *words], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"registry {' '.join(words)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def prepare_registry(url: str) -> tuple[str, int]:
    """Load the demo into a fresh store and issue a partner token for ohchr; the token and
    how many actions the demo recorded."""
    loaded = re.search(r"(\d+) actions", cli(url, "demo"))
    token = cli(url, "token", "issue", "--role", "partner", "--partner", "ohchr",
                "--label", "bench-http").strip().splitlines()[-1]
    return token, int(loaded.group(1)) if loaded else 0


# -- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A gunicorn server in its own session (process group), so that stopping it stops its
    workers too; the log goes to a file in the store's temporary directory."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen([*command, *self._bind_args()], cwd=ROOT,
                                     env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def _bind_args(self) -> list[str]:
        return ["--port", str(self.port)]

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited ({self.proc.returncode}):\n"
                                   + self.tail())
            with contextlib.suppress(OSError, HTTPException):
                conn = HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} server not ready after {timeout:.0f} s:\n" + self.tail())

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM to the gunicorn master (a graceful stop of its workers), then SIGKILL to
        the process group this server was started in, if anything is left."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group started for this server
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log_file.close()


def start_registry(url: str, args: argparse.Namespace, tmp: Path) -> Server:
    runtime = tmp / "registry-runtime"  # gunicorn's control socket, away from $HOME
    prometheus = tmp / "registry-prometheus"
    runtime.mkdir(mode=0o700)
    prometheus.mkdir()
    return Server("registry", [sys.executable, "-m", "registry", "--db", url, "serve",
                               "--host", HOST, "--workers", str(args.workers),
                               "--threads", str(args.threads)],
                  {"XDG_RUNTIME_DIR": str(runtime), "PROMETHEUS_MULTIPROC_DIR": str(prometheus)},
                  tmp / "registry.log")


class BaselineServer(Server):
    def _bind_args(self) -> list[str]:
        return ["--bind", f"{HOST}:{self.port}"]


def start_baseline(url: str, args: argparse.Namespace, tmp: Path) -> Server:
    return BaselineServer("baseline", [sys.executable, str(Path(__file__).resolve()),
                                       "--serve-baseline", "--store", url,
                                       "--workers", str(args.workers),
                                       "--threads", str(args.threads)],
                          {}, tmp / "baseline.log")


# -- the load generator ----------------------------------------------------------------


@dataclass
class Target:
    name: str  # registry | baseline
    port: int
    token: str
    written: list[tuple[int, str]] = field(default_factory=list)  # (position, id) of writes
    readable: list[str] = field(default_factory=list)  # ids the single reads pick from
    rows: int = 0  # actions in its read model during the reads


@dataclass
class LoadSpec:
    phase: str
    port: int
    token: str
    ids: list[str]
    threads: int
    quota: int  # requests per connection at most
    start_at: float  # time.monotonic() (system-wide) when every connection starts
    stop_at: float
    seed: int


def _connection(port: int) -> HTTPConnection:
    conn = HTTPConnection(HOST, port, timeout=30)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _client(spec: LoadSpec, index: int, out: dict[str, Any]) -> None:
    """One keep-alive connection issuing requests back to back."""
    rng = random.Random(spec.seed * 1000 + index)
    headers = {"Authorization": f"Bearer {spec.token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    written: list[tuple[int, str]] = []
    conn = _connection(spec.port)
    time.sleep(max(0.0, spec.start_at - time.monotonic()))
    count = 0
    while count < spec.quota and time.monotonic() < spec.stop_at:
        body = None
        if spec.phase == "write":
            method, path = "POST", "/v1/actions"
            body = json.dumps(action_body(rng, f"{spec.seed}-{index}-{count}")).encode()
        elif spec.phase == "list":
            method, path = "GET", LIST_PATH
        else:
            method, path = "GET", f"/v1/actions/{spec.ids[rng.randrange(len(spec.ids))]}"
        started = time.perf_counter()
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, HTTPException):
            status, data = 0, b""  # a transport error: counted, and a new connection
            conn.close()
            with contextlib.suppress(OSError):
                conn = _connection(spec.port)
        latencies.append(time.perf_counter() - started)
        statuses[status] += 1
        count += 1
        if spec.phase == "write" and 200 <= status < 300:
            receipt = json.loads(data)
            written.append((receipt["position"], receipt["id"]))
    out[index] = {"latencies": latencies, "statuses": statuses, "written": written,
                  "ended": time.monotonic()}
    conn.close()


def _load_process(spec: LoadSpec, first: int, queue: Any) -> None:
    """A load process: `spec.threads` connections, each in a thread of its own."""
    with contextlib.suppress(KeyboardInterrupt):
        cpu = os.times()
        out: dict[int, Any] = {}
        threads = [threading.Thread(target=_client, args=(spec, first + i, out), daemon=True)
                   for i in range(spec.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        used = os.times()
        queue.put({"clients": list(out.values()),
                   "cpu_s": (used.user - cpu.user) + (used.system - cpu.system)})


@dataclass
class Result:
    requests: int
    ok: int
    errors: int
    statuses: dict[str, int]
    seconds: float
    per_s: float  # 2xx responses per second
    p50_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_s: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank; `ordered` is sorted."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


_LIVE: list[Any] = []  # load processes running now, terminated on the way out


def run_load(target: Target, phase: str, args: argparse.Namespace, seconds: float,
             seed: int) -> Result:
    """C connections over P load processes for `seconds` or `args.requests` in all."""
    procs = max(1, min(args.clients, args.concurrency))
    per_proc = [args.concurrency // procs + (i < args.concurrency % procs)
                for i in range(procs)]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.monotonic() + 0.3  # every connection made before the clock starts
    quota = math.ceil(args.requests / args.concurrency)
    base = LoadSpec(phase, target.port, target.token, target.readable, 0, quota, start_at,
                    start_at + seconds, seed)
    workers = []
    first = 0
    for threads in per_proc:
        spec = LoadSpec(**{**base.__dict__, "threads": threads})
        workers.append(ctx.Process(target=_load_process, args=(spec, first, queue),
                                   daemon=True))
        first += threads
    _LIVE.extend(workers)
    for worker in workers:
        worker.start()
    parts = [queue.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
        _LIVE.remove(worker)
    clients = [c for part in parts for c in part["clients"]]
    latencies = sorted(x for c in clients for x in c["latencies"])
    statuses: Counter[int] = Counter()
    for c in clients:
        statuses.update(c["statuses"])
        if phase == "write":
            target.written.extend(c["written"])
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    elapsed = max(c["ended"] for c in clients) - start_at
    return Result(len(latencies), ok, len(latencies) - ok,
                  {str(s): n for s, n in sorted(statuses.items())}, elapsed, ok / elapsed,
                  percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3,
                  (latencies[-1] if latencies else math.nan) * 1e3,
                  sum(p["cpu_s"] for p in parts))


def request(target: Target, method: str, path: str) -> tuple[int, bytes]:
    conn = HTTPConnection(HOST, target.port, timeout=30)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {target.token}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def settle(registry: Target, baseline: Target, demo_actions: int,
           timeout: float = 60.0) -> dict[str, Any]:
    """Before reads, both read models hold the same number of actions (the registry's demo
    and writes; the baseline writes faster, so its row table is filled only up to that
    many, by `/_project`, not timed), and the registry's projection workers (which catch
    up on their own) include its latest write."""
    if not registry.written or not baseline.written:
        raise RuntimeError("no write succeeded on one side: nothing to read")
    rows = demo_actions + len(registry.written)
    upto = rows if len(baseline.written) >= rows else max(baseline.written)[0]
    status, body = request(baseline, "POST", f"/_project?upto={upto}")
    if status != 200:
        raise RuntimeError(f"baseline projection failed: {status} {body[:200]!r}")
    baseline.rows = json.loads(body)["rows"]
    baseline.readable = [i for position, i in baseline.written if position <= upto]
    registry.rows = rows
    registry.readable = [i for _, i in registry.written]
    head = max(registry.written)
    started = time.monotonic()
    while request(registry, "GET", f"/v1/actions/{head[1]}")[0] != 200:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"registry read models did not reach position {head[0]} "
                               f"within {timeout:.0f} s")
        time.sleep(0.02)
    return {"registry_rows": registry.rows, "baseline_rows": baseline.rows,
            "registry_catch_up_s": time.monotonic() - started}


# -- measurement ----------------------------------------------------------------------


def best(runs: list[Result]) -> Result:
    return max(runs, key=lambda r: r.per_s)


def compare(phase: str, registry: list[Result], baseline: list[Result],
            store: str) -> dict[str, Any]:
    reg, raw = best(registry), best(baseline)
    _, per_s, p99 = PHASES[phase]
    return {
        "registry": {**reg.as_dict(), "runs": [r.as_dict() for r in registry]},
        "baseline": {**raw.as_dict(), "runs": [r.as_dict() for r in baseline]},
        "ratio": {"per_s": reg.per_s / raw.per_s if raw.per_s else math.nan,
                  "p50": reg.p50_ms / raw.p50_ms, "p99": reg.p99_ms / raw.p99_ms},
        "target": {"per_s_at_least": per_s, "p99_ms_at_most": p99,
                   "stated_for": "2 cores, SQLite", "applies": store == "sqlite",
                   "met": reg.per_s >= per_s and reg.p99_ms <= p99 and reg.errors == 0},
    }


def measure(args: argparse.Namespace, store: Store) -> dict[str, Any]:
    tmp = Path(store.dir.name)
    reg_url, raw_url = store.fresh("registry"), store.fresh("baseline")
    token, demo_actions = prepare_registry(reg_url)
    return measure_servers(args, tmp, (reg_url, raw_url), token, store.kind,
                           lambda registry, baseline: settle(registry, baseline, demo_actions))


Settle = Callable[[Target, Target], dict[str, Any]]


def measure_servers(args: argparse.Namespace, tmp: Path, urls: tuple[str, str], token: str,
                    kind: str, settle_reads: Settle) -> dict[str, Any]:
    """Serve the registry store and the baseline store (`urls`), then load both with every
    phase; `settle_reads` readies both read models before reads (bench/scale.py brings its
    own, for stores that already hold a history)."""
    servers: list[Server] = []
    try:
        servers.append(start_registry(urls[0], args, tmp))
        servers.append(start_baseline(urls[1], args, tmp))
        for server in servers:
            server.wait_ready()
        registry = Target("registry", servers[0].port, token)
        baseline = Target("baseline", servers[1].port, token)
        # warm-up (not counted): every route, on both sides, with the same load
        for target in (registry, baseline):
            run_load(target, "write", args, args.warmup, seed=1)
        settle_reads(registry, baseline)
        for target in (registry, baseline):
            for phase in ("list", "get"):
                run_load(target, phase, args, args.warmup, seed=2)
        runs: dict[str, dict[str, list[Result]]] = {p: {"registry": [], "baseline": []}
                                                   for p in PHASES}
        settles = []
        for repeat in range(args.repeats):
            order = (registry, baseline) if repeat % 2 == 0 else (baseline, registry)
            for phase in PHASES:
                if phase == "list":
                    settles.append(settle_reads(registry, baseline))
                for target in order:
                    seed = 100 + 10 * repeat + list(PHASES).index(phase)
                    runs[phase][target.name].append(
                        run_load(target, phase, args, args.seconds, seed))
        for server in servers:
            check_log(server)
        return {"phases": {p: compare(p, r["registry"], r["baseline"], kind)
                           for p, r in runs.items()},
                "before_reads": settles,
                "actions_written": {"registry": len(registry.written),
                                    "baseline": len(baseline.written)}}
    finally:
        with shielded():
            for server in servers:
                server.stop()


def check_log(server: Server) -> None:
    """A worker that died or timed out would skew the figures without an error."""
    text = server.log.read_text(errors="replace")
    for marker in ("WORKER TIMEOUT", "Worker exiting", "Traceback"):
        if marker in text:
            print(f"warning: {server.name} log has {marker!r}:\n{server.tail()}",
                  file=sys.stderr)
            return


# -- profile --------------------------------------------------------------------------

# What the summary attributes time to: (label, file suffix, function), cumulative times.
# The rows are not exclusive: indented ones are part of the row above them.
PROFILE_ROWS = (
    ("HTTP request (Flask wsgi_app)", "flask/app.py", "wsgi_app"),
    ("  authentication (token row + SHA-256)", "api/__init__.py", "_authenticate"),
    ("  body parsing + validation (webargs)", "webargs/core.py", "parse"),
    ("    body schema built per request", "marshmallow/schema.py", "__init__"),
    ("  the write (GroupCommit.execute)", "registry/group_commit.py", "execute"),
    ("    rules and plugins (evaluate_action)", "registry/plugins.py", "evaluate_action"),
    ("    eventsourcing save (insert + commit)", "eventsourcing/application.py", "save"),
    ("  response (marshmallow dump)", "marshmallow/schema.py", "dump"),
    ("  metrics (prometheus)", "api/metrics.py", "observe|start_timer"),
    ("projection catch-up (Follower.catch_up)", "registry/projections/runner.py", "catch_up"),
    ("  compliance: obligations reloaded", "registry/projections/compliance.py", "_candidates"),
    ("{commit}", "", ""),  # per store: COMMIT_ROWS
    ("JSON dumps/loads (anywhere)", "json/__init__.py", "dumps|loads"),
)


COMMIT_ROWS = {
    "sqlite": ("SQLite commit (event save + projection)", "~",
               "<method 'commit' of 'sqlite3.Connection' objects>"),
    "postgres": ("PostgreSQL round trips (psycopg wait)", "psycopg/connection.py", "wait"),
}


def profile_rows(store: str) -> list[tuple[str, str, str]]:
    return [COMMIT_ROWS[store] if label == "{commit}" else (label, suffix, name)
            for label, suffix, name in PROFILE_ROWS]


def cumulative(stats: pstats.Stats, suffix: str, names: str) -> float:
    """Cumulative seconds of the named functions (not counting nested calls twice)."""
    total = 0.0
    for (path, _, name), (_, _, _, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if name in names.split("|") and path.endswith(suffix):
            nested = any(c[2] in names.split("|") and c[0].endswith(suffix) for c in callers)
            if not nested:
                total += ct
    return total


def profile_posts(args: argparse.Namespace, store: Store) -> dict[str, Any]:
    """The registry's POST path in-process: create_app + Flask test client, `n` POSTs,
    each followed by the projection catch-up that the worker thread would do (run here, in
    the profiled thread, since cProfile sees one thread only)."""
    from api import create_app

    url = store.fresh("profile")
    token, _ = prepare_registry(url)
    app = create_app({"COOPREG_DB": url, "COOPREG_FOLLOW": False})
    services = app.extensions["coopreg"].services
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(11)
    n = args.profile_requests

    def posts(count: int, tag: str) -> None:
        for i in range(count):
            response = client.post("/v1/actions", json=action_body(rng, f"{tag}-{i}"),
                                   headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"profile POST answered {response.status_code}: "
                                   f"{response.get_data(as_text=True)[:300]}")
            services.follower.catch_up()

    try:
        posts(20, "warm")
        started = time.perf_counter()
        posts(n, "plain")
        plain_ms = (time.perf_counter() - started) / n * 1e3
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        posts(n, "profiled")
        profiler.disable()
        profiled_ms = (time.perf_counter() - started) / n * 1e3
    finally:
        services.close()
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    wanted = profile_rows(args.db)
    rows = [{"what": label.strip(), "depth": (len(label) - len(label.lstrip())) // 2,
             "share": cumulative(stats, suffix, name) / total}
            for label, suffix, name in wanted]
    text = io.StringIO()
    text.write(f"cProfile of {n} POST /v1/actions in-process (create_app + Flask test "
               f"client), each followed by Follower.catch_up(); {args.db}\n"
               f"{plain_ms:.2f} ms/request without the profiler, {profiled_ms:.2f} with it\n\n"
               "Summary (cumulative time, share of the profiled total):\n")
    for row, (label, _, _) in zip(rows, wanted, strict=True):
        text.write(f"  {label:<52}{row['share']:>6.1%}\n")
    for key, title in (("cumulative", "Top 15 by cumulative time"),
                       ("tottime", "Top 15 by own time (tottime)")):
        text.write(f"\n{title}:\n")
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(key).print_stats(15)
    path = args.json.with_name(args.json.stem + "-profile.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.getvalue())
    top = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)  # type: ignore[attr-defined]
    return {"requests": n, "ms_per_request": plain_ms, "ms_per_request_profiled": profiled_ms,
            "summary": rows, "file": str(path),
            "top_cumulative": [{"function": f"{Path(k[0]).name}:{k[1]}({k[2]})",
                                "cumulative_s": v[3], "calls": v[1]} for k, v in top[:15]]}


# -- output ---------------------------------------------------------------------------


def table(figures: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [f"[{args.db}] HTTP on {HOST}: C={args.concurrency} keep-alive connections in "
             f"{min(args.clients, args.concurrency)} load processes; gunicorn {args.workers} "
             f"workers x {args.threads} threads; {args.seconds:g} s or {args.requests:,} "
             f"requests per run; best of {args.repeats} (order alternated)",
             f"  {'':<25}{'registry':^27} |{'baseline':^27} |{'registry / baseline':^21}",
             f"  {'phase':<25}{'req/s':>8}{'p50ms':>7}{'p99ms':>7}{'err':>5} |{'req/s':>8}"
             f"{'p50ms':>7}{'p99ms':>7}{'err':>5} |{'req/s':>7}{'p50':>7}{'p99':>7}  "
             "target (registry)"]
    for phase, (label, per_s, p99) in PHASES.items():
        f = figures["phases"][phase]
        r, b, x = f["registry"], f["baseline"], f["ratio"]
        met = "met" if f["target"]["met"] else "not met"
        lines.append(f"  {label:<25}{r['per_s']:>8,.0f}{r['p50_ms']:>7.1f}{r['p99_ms']:>7.1f}"
                     f"{r['errors']:>5} |{b['per_s']:>8,.0f}{b['p50_ms']:>7.1f}"
                     f"{b['p99_ms']:>7.1f}{b['errors']:>5} |{x['per_s']:>6.2f}x"
                     f"{x['p50']:>6.1f}x{x['p99']:>6.1f}x  >= {per_s:,.0f}/s, "
                     f"p99 <= {p99:.0f} ms ({met})")
    if args.db != "sqlite":
        lines.append("  (the targets are stated for SQLite on 2 cores)")
    return "\n".join(lines)


def profile_summary(profile: dict[str, Any]) -> str:
    lines = [f"profile: {profile['requests']} POSTs in-process, "
             f"{profile['ms_per_request']:.2f} ms/request "
             f"({profile['ms_per_request_profiled']:.2f} under cProfile); "
             f"share of profiled time:"]
    for row in profile["summary"]:
        lines.append(f"  {'  ' * row['depth']}{row['what']:<{52 - 2 * row['depth']}}"
                     f"{row['share']:>6.1%}")
    lines.append(f"  top 15 by cumulative time in {profile['file']}")
    return "\n".join(lines)


def results(args: argparse.Namespace, figures: dict[str, Any],
            profile: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "benchmark": "http",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "eventsourcing": version("eventsourcing"),
        "flask": version("flask"),
        "gunicorn": version("gunicorn"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "store": args.db,
        "host": HOST,
        "seconds": args.seconds,
        "requests_cap": args.requests,
        "warmup_seconds": args.warmup,
        "concurrency": args.concurrency,
        "load_processes": min(args.clients, args.concurrency),
        "workers": args.workers,
        "threads": args.threads,
        "repeats": args.repeats,
        "statistic": "per side, the run with the most 2xx responses/s; its own p50/p99",
        "order": "alternated: registry first in runs 1, 3, ...; baseline first in 2, 4, ...",
        "units": {"per_s": "2xx responses per second", "latency": "milliseconds, client "
                  "side, request sent to body read, errors included"},
        "errors": "any response that is not 2xx, or a transport error (status 0)",
        **figures,
        "profile": profile,
    }


# -- command line ---------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per run (D)")
    parser.add_argument("--requests", type=int, default=50_000,
                        help="at most this many requests per run (N)")
    parser.add_argument("--concurrency", type=int, default=8, help="connections (C)")
    parser.add_argument("--clients", type=int, default=2,
                        help="load processes the connections are spread over")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both sides")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("COOPREG_BENCH_PG", PG_URL))
    parser.add_argument("--repeats", type=int, default=2, help="runs per phase and side")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of unmeasured load per route and side first")
    parser.add_argument("--profile-requests", type=int, default=500)
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--quick", action="store_true",
                        help="a short profile (< 30 s): "
                             + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results file")
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--bind", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    if min(args.seconds, args.requests, args.concurrency, args.clients, args.workers,
           args.threads, args.repeats, args.profile_requests) <= 0:
        parser.error("counts and durations must be positive")
    return args


def stop_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Clean-up that a second Ctrl-C or SIGTERM does not cut short (they wait until after)."""
    signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_baseline:
        serve_baseline(args.bind, args.store, args.workers, args.threads)
        return 0
    stop_on_sigterm()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(f"note: the machine is busy (1-minute load average {load_before:.1f} on "
              f"{os.cpu_count()} CPUs); expect noisy figures", file=sys.stderr)
    try:
        store = Store(args.db, args.pg_url)
    except Exception as error:  # psycopg.OperationalError, without importing it for SQLite
        print(f"[{args.db}] skipped: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    try:
        figures = measure(args, store)
        print(table(figures, args))
        profile = profile_posts(args, store) if args.profile else None
        if profile:
            print(profile_summary(profile))
    except KeyboardInterrupt:
        print("interrupted: servers stopped, temporary stores removed", file=sys.stderr)
        return 130
    finally:
        with shielded():
            for worker in list(_LIVE):
                if worker.is_alive():
                    worker.terminate()
            store.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    figures["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    args.json.write_text(json.dumps(results(args, figures, profile), indent=2) + "\n")
    print(f"results written to {args.json} ({time.monotonic() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
