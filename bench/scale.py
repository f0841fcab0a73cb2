"""Scale benchmark: the registry at 10k, 100k and 1M events, side by side with raw
eventsourcing, on SQLite and PostgreSQL.

For each store one registry database grows through the sizes asked for, fed a realistic
history (bench/history.py) through `Registry.execute_batch` with every built-in plugin on,
its read models following batch by batch as the API's workers do; a raw eventsourcing
store grows alongside with as many events. At each size:

- writes:   execute_batch and the follower's catch-up during the growth, against raw
            `app.save(*aggregates)` of the same number of events; a sample of single
            `Registry.execute` calls against single raw saves (alternating rounds);
- import:   NDJSON export of the whole history, and `registry.io.import_events` of it
            into an empty store;
- replay:   `Follower.rebuild()` against decoding every notification, each in a fresh
            child process that reports its own peak RSS;
- reads:    p50/p99 of representative queries in-process (filters, one action, who did
            what where, as of a past position);
- proofs:   inclusion and consistency proofs of the transparency log;
- verify:   `coopreg verify` and `coopreg audit verify` when this checkout has them;

then HTTP reads and writes under gunicorn at the largest size (bench/http_load.py's
machinery, against its bare Flask baseline on the raw store). Results go to
bench/results/scale.json, scale.md and scale.png.

    python bench/scale.py --profile ci                 # 2k events, SQLite, < 1 minute
    python bench/scale.py --sizes 10000,100000,1000000 --db sqlite
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # `python bench/scale.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

import argparse
import gc
import importlib.util
import json
import os
import platform
import random
import re
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from importlib.metadata import version
from typing import Any

import http_load
import psycopg
import scale_report
from baseline import RawAction, RawApp
from core import PostgresStore, SqliteStore, Store, decode_all, raw_payload
from history import ADMIN, KINDS, PARTNERS, THEMES, History

from registry.application import Registry
from registry.bootstrap import Services, open_registry
from registry.commands import Command, ReportAction
from registry.config import parse_database
from registry.io import export_events, import_events
from registry.projections import ActionFilter, Ledger
from registry.schemas import load_command

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
RESULTS = ROOT / "bench" / "results"
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"sizes": "1000,2000", "db": "sqlite", "single": 200, "read_repeats": 40,
           "proof_repeats": 100, "http_seconds": 1.0, "http_warmup": 0.25,
           "http_repeats": 1},
    "full": {"sizes": "10000,100000,1000000", "db": "sqlite", "single": 2000,
             "read_repeats": 300, "proof_repeats": 500, "http_seconds": 5.0,
             "http_warmup": 1.0, "http_repeats": 2},
}
ANALYZE_FROM = 2000  # events: enough rows for statistics that hold as the store grows
READ_COUNTRIES = ("UA", "GE", "FR", "KE", "BR", "PL", "US", "AM")


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"p50_ms": http_load.percentile(ordered, 0.5) * 1e3,
            "p99_ms": http_load.percentile(ordered, 0.99) * 1e3,
            "mean_ms": sum(ordered) / len(ordered) * 1e3, "n": len(ordered)}


# -- growing the history ----------------------------------------------------------------


@dataclass
class Clock:
    """Seconds spent per activity, and the events they covered."""

    seconds: dict[str, float] = field(default_factory=dict)
    events: int = 0

    def add(self, what: str, started: float) -> None:
        self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - started

    def rate(self, what: str) -> float:
        spent = self.seconds.get(what, 0.0)
        return self.events / spent if spent else 0.0


class Growth:
    """One registry store and one raw store, grown together through the sizes."""

    def __init__(self, store: Store, args: argparse.Namespace) -> None:
        self.store, self.args = store, args
        self.registry_url, self.raw_url = store.fresh("registry"), store.fresh("raw")
        self.services: Services = open_registry(self.registry_url)
        self.raw = RawApp(parse_database(self.raw_url).env)  # the registry's store settings
        self.history = History(args.seed)
        self.events = 0  # recorded by the history (the sample writes come on top)
        self.extra_events = 0  # what measurements recorded, on top of the history
        # the raw side's payload: the latest report's (to begin with, one like it)
        self.last_report = raw_payload(load_command(History(args.seed + 1).reports("ohchr", 1)[0]))

    def close(self) -> None:
        self.services.close()
        self.raw.close()

    def head(self) -> int:
        return self.services.app.recorder.max_notification_id() or 0

    def grow(self, target: int) -> Clock:
        clock = Clock()
        started, reported = time.perf_counter(), self.events
        while self.events < target:
            by, documents = self.history.batch(min(self.args.batch_size, target - self.events))
            self.record(by, documents, clock)
            if self.events >= ANALYZE_FROM > self.events - len(documents):
                self.analyze(clock)
            if self.events - reported >= self.args.log_every:
                reported = self.events
                log(f"  {self.events:,} events ({clock.rate('execute_batch'):,.0f}/s "
                    f"execute_batch, {clock.rate('catch_up'):,.0f}/s catch-up, "
                    f"{time.perf_counter() - started:,.0f} s)")
        self.analyze(clock)
        return clock

    def analyze(self, clock: Clock) -> None:
        """With --analyze, ANALYZE the registry store's tables, as `PRAGMA optimize` or
        PostgreSQL's autovacuum would for a long-lived store (the registry does neither;
        and a PostgreSQL server may run with autovacuum off, as the test server does)."""
        if not self.args.analyze:
            return
        start = time.perf_counter()
        sql = self.services.queries.sql
        statements = ["ANALYZE"]
        if sql.postgres:  # this schema's tables only, not the whole database's
            rows = sql.all("SELECT table_name FROM information_schema.tables "
                           "WHERE table_schema = ?", (sql.schema,))
            statements = [f"ANALYZE {sql.table(r['table_name'])}" for r in rows]
        with sql.transaction() as cursor:
            for statement in statements:
                cursor.execute(statement)
        clock.add("analyze", start)

    def record(self, by: str, documents: list[dict[str, Any]], clock: Clock) -> None:
        start = time.perf_counter()
        commands = [load_command(d) for d in documents]
        clock.add("parse", start)
        start = time.perf_counter()
        receipts = self.services.app.execute_batch(commands, by=by)
        clock.add("execute_batch", start)
        self.history.recorded(receipts)
        if self.args.follow:
            start = time.perf_counter()
            self.services.follower.catch_up()
            clock.add("catch_up", start)
        payloads = self.raw_payloads(commands)
        start = time.perf_counter()
        self.raw.save(*[RawAction(**p) for p in payloads])
        clock.add("raw_save", start)
        self.events += len(commands)
        clock.events += len(commands)

    def raw_payloads(self, commands: list[Command]) -> list[dict[str, Any]]:
        """One raw event per registry event, each with the latest report's facts, as
        core.py's baseline has (the registry's corrections and answers carry less, its
        reports more: the rules in force and their findings)."""
        payloads = []
        for command in commands:
            if isinstance(command, ReportAction):
                self.last_report = raw_payload(command)
            payloads.append(self.last_report)
        return payloads


def check_events(found: int, expected: int, what: str) -> None:
    if found != expected:
        raise RuntimeError(f"{what}: {found} events, expected {expected}")


# -- single writes ----------------------------------------------------------------------


def single_writes(growth: Growth, count: int, rounds: int = 4) -> dict[str, Any]:
    """`count` reports, one `Registry.execute` each, against one raw `app.save` each into
    the raw store of the same size; in rounds that alternate which side goes first."""
    per_round = max(1, count // rounds)
    seconds = {"registry": 0.0, "raw": 0.0}
    written = 0
    for round_ in range(rounds):
        partner = list(PARTNERS)[round_ % len(PARTNERS)]
        documents = growth.history.reports(partner, per_round)
        commands = [load_command(d) for d in documents]
        payloads = [raw_payload(c) for c in commands]
        sides: list[tuple[str, Callable[[], Any]]] = [
            ("registry", partial(_execute_each, growth, commands, f"partner:{partner}")),
            ("raw", partial(_save_each, growth.raw, payloads))]
        for name, run in sides if round_ % 2 == 0 else reversed(sides):
            gc.collect()
            start = time.perf_counter()
            run()
            seconds[name] += time.perf_counter() - start
        written += per_round
    registry, raw = written / seconds["registry"], written / seconds["raw"]
    return {"events": written, "rounds": rounds, "registry_per_s": registry,
            "raw_per_s": raw, "ratio": registry / raw}


def _execute_each(growth: Growth, commands: list[Command], by: str) -> None:
    receipts = [growth.services.app.execute(c, by=by) for c in commands]
    growth.history.recorded(receipts)


def _save_each(raw: RawApp, payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        raw.save(RawAction(**payload))


# -- replay, in child processes ------------------------------------------------------------


def peak_rss_kib() -> int:
    """This process's peak RSS since it started, in KiB: VmHWM on Linux. Not ru_maxrss:
    Linux keeps that across execve, so a child of a process that grew a 1M-event store
    reported the parent's peak (a replay "needed" 332 MB it never touched)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # a bound, as above
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS counts bytes


def child_main(kind: str, url: str) -> int:
    """`--child replay|decode --url URL`: one measurement in this fresh process; prints
    JSON with the time and this process's peak RSS (`peak_rss_kib`)."""
    started_rss = peak_rss_kib()
    if kind == "replay":
        services = open_registry(url)
        ready_rss = peak_rss_kib()
        start = time.perf_counter()
        events = services.follower.rebuild()
        seconds = time.perf_counter() - start
        services.close()
    else:
        app = Registry(parse_database(url).env)  # no read models: recorder and mapper only
        ready_rss = peak_rss_kib()
        start = time.perf_counter()
        events = decode_all(app)
        seconds = time.perf_counter() - start
        app.close()
    peak = peak_rss_kib()
    print(json.dumps({"events": events, "seconds": seconds, "per_s": events / seconds,
                      "rss_mb": {"after_imports": started_rss / 1024, "ready": ready_rss / 1024,
                                 "peak": peak / 1024}}))
    return 0


def in_child(kind: str, url: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", kind,
                           "--url", url], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {kind} failed: {done.stderr.strip()[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def replay(url: str, head: int) -> dict[str, Any]:
    """Raw decode, registry rebuild, raw decode again (the best decode counts: both sides
    then had the chance of a warm page cache)."""
    decodes = [in_child("decode", url)]
    rebuilt = in_child("replay", url)
    decodes.append(in_child("decode", url))
    for measured in (*decodes, rebuilt):
        check_events(measured["events"], head, "replay")
    raw = max(decodes, key=lambda d: d["per_s"])
    return {"registry": rebuilt, "raw_decode": raw, "raw_decode_runs": decodes,
            "ratio": rebuilt["per_s"] / raw["per_s"],
            "rss_method": "peak RSS of a fresh child process: VmHWM of /proc/self/status, "
                          "read by the child after the measurement (imports included; 'ready' is "
                          "the peak before the measurement began)"}


# -- reads and proofs ---------------------------------------------------------------------

Prepared = Callable[[random.Random], Callable[[], Any]]


def read_queries(services: Services, ids: list[str], mid: int) -> dict[str, Prepared]:
    """Representative reads; parameters are drawn before the clock starts."""
    q = services.queries
    partners, kinds = list(PARTNERS), list(KINDS)[:12]  # the core's kinds, not the plugins'
    return {
        "actions country=UA (20)": lambda r: partial(
            q.actions, ActionFilter(country="UA"), limit=20),
        "actions partner+kind (20)": lambda r: partial(
            q.actions, ActionFilter(partner=r.choice(partners), kind=r.choice(kinds)), limit=20),
        "actions theme, in 2016 (20)": lambda r: partial(
            q.actions, ActionFilter(theme=r.choice(THEMES), occurred_from=date(2016, 1, 1),
                                    occurred_to=date(2016, 12, 31)), limit=20),
        "action by id": lambda r: partial(q.action, r.choice(ids)),
        "who did what where (country)": lambda r: partial(
            q.who_did_what_where, country=r.choice(READ_COUNTRIES)),
        "as-of actions country (20)": lambda r: partial(
            q.actions, ActionFilter(country=r.choice(READ_COUNTRIES)), as_of=mid, limit=20),
        "as-of action by id": lambda r: partial(q.action, r.choice(ids), as_of=mid),
    }


def latency(prepare: Prepared, repeats: int, rng: random.Random,
            budget_s: float = 30.0) -> dict[str, float]:
    return side_by_side([prepare], repeats, rng, budget_s)[0]


def side_by_side(prepares: Sequence[Prepared], repeats: int, rng: random.Random,
                 budget_s: float = 30.0) -> list[dict[str, float]]:
    """`repeats` timed calls of each, alternating between them (so they share whatever
    else the machine is doing), or as many as fit in `budget_s` (at least 3): a query that
    slows with size would otherwise take most of a 1M run."""
    for prepare in prepares:
        prepare(rng)()  # warm caches, unmeasured
    seconds: list[list[float]] = [[] for _ in prepares]
    deadline = time.perf_counter() + budget_s
    while len(seconds[0]) < repeats and (len(seconds[0]) < 3 or time.perf_counter() < deadline):
        for prepare, measured in zip(prepares, seconds, strict=True):
            call = prepare(rng)
            start = time.perf_counter()
            call()
            measured.append(time.perf_counter() - start)
    return [percentiles(measured) for measured in seconds]


def reads(growth: Growth, repeats: int, seed: int,
          reference: Growth | None = None) -> dict[str, Any]:
    """The read queries on the grown store; with a `reference` (the same history at the
    smallest size), each query's calls alternate between the two stores, so the growth
    ratio compares figures measured at the same moments."""
    head = growth.head()
    queries = read_queries(growth.services, growth.history.sample, head // 2)
    rng = random.Random(seed)
    if reference is None:
        return {"as_of_position": head // 2,
                "queries": {name: latency(prepare, repeats, rng)
                            for name, prepare in queries.items()}}
    small = read_queries(reference.services, reference.history.sample, reference.head() // 2)
    pairs = {name: side_by_side([prepare, small[name]], repeats, rng)
             for name, prepare in queries.items()}
    return {"as_of_position": head // 2,
            "queries": {name: pair[0] for name, pair in pairs.items()},
            "reference": {"events_in_store": reference.head(),
                          "queries": {name: pair[1] for name, pair in pairs.items()}}}


def proofs(growth: Growth, repeats: int, seed: int) -> dict[str, Any]:
    """Inclusion proofs (a leaf in a tree of a random size) and consistency proofs
    (between two random sizes), over the ledger read model."""
    ledger = Ledger(growth.services.queries.sql)
    size = ledger.size()
    if size < 2:
        return {"tree_size": size, "skipped": "fewer than two leaves"}
    rng = random.Random(seed)

    def inclusion(r: random.Random) -> Callable[[], Any]:
        n = r.randint(1, size)
        return partial(ledger.inclusion, r.randrange(n), n)

    def consistency(r: random.Random) -> Callable[[], Any]:
        m = r.randint(1, size - 1)
        return partial(ledger.consistency, m, r.randint(m + 1, size))

    return {"tree_size": size, "inclusion": latency(inclusion, repeats, rng),
            "consistency": latency(consistency, repeats, rng)}


# -- export, import, verify -------------------------------------------------------------------


def export_import(growth: Growth, folder: Path) -> dict[str, Any]:
    """Export the whole history as NDJSON, then import it into an empty store."""
    head = growth.head()
    path = folder / "export.ndjson"
    start = time.perf_counter()
    with path.open("w", encoding="utf-8") as out:
        exported = export_events(growth.services.app.recorder, out)
    export_s = time.perf_counter() - start
    check_events(exported, head, "export")
    url = growth.store.fresh("import")
    target = Registry(parse_database(url).env)
    try:
        start = time.perf_counter()
        with path.open(encoding="utf-8") as lines:
            report = import_events(target.recorder, target.mapper, lines)
        import_s = time.perf_counter() - start
        check_events(target.recorder.max_notification_id() or 0, head, "import")
    finally:
        target.close()
        growth.store.discard(url)
    return {"events": head, "bytes": path.stat().st_size,
            "export_per_s": head / export_s, "import_per_s": report.events / import_s,
            "import_renumbered": report.renumbered}


def cli_help(*words: str) -> str:
    done = subprocess.run([sys.executable, "-m", "registry", *words, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    return done.stdout


def cli_commands(*group: str) -> set[str]:
    """The subcommands `coopreg [group] --help` lists."""
    text = cli_help(*group)
    lines = text.split("Commands:", 1)[1].splitlines() if "Commands:" in text else []
    return {line.split()[0] for line in lines if line.startswith("  ") and line.split()}


def run_cli(words: list[str], events: int) -> dict[str, Any]:
    """One timed `coopreg` subprocess; `own_per_s` is the rate the command reports itself
    ("..., 1.55 s, 65,825 events/s."), without the process start-up."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "registry", *words], cwd=ROOT,
                          capture_output=True, text=True, timeout=6 * 3600, check=False)
    seconds = time.perf_counter() - start
    output = (done.stdout + done.stderr).strip()
    own = re.findall(r"([\d.]+) s, ([\d,]+) events/s", output)
    return {"available": True, "command": " ".join(["coopreg", *words]),
            "exit_status": done.returncode, "seconds": seconds, "per_s": events / seconds,
            "own_per_s": float(own[-1][1].replace(",", "")) if own else None,
            "output_tail": output[-500:], "stdout": done.stdout}


def measure_verify(url: str, export_path: Path, events: int) -> dict[str, Any]:
    """Full verification of the log, each step a timed `coopreg` subprocess over all
    `events` (so about a second of start-up is inside each figure):

    - `coopreg export FILE` (events, leaves and a signed checkpoint) to `export_path`;
    - live: `coopreg --db URL verify --skip-replay` (the replay is measured on its own);
    - offline: `coopreg audit verify --export FILE --public-key KEY`, the key from
      `coopreg audit key`.

    The signing key is created by `coopreg init` beside the export (not in ~/.config) and
    must stay there for the store's life: checkpoints signed earlier are checked with it.
    A command this checkout lacks is recorded as not available."""
    base = ["--db", url]
    if "--signing-key" in cli_help():
        base += ["--signing-key", str(export_path.with_name("log.signing-key"))]
    commands, audit = cli_commands(), cli_commands("audit")
    results: dict[str, Any] = {"events": events}
    if "init" in commands:
        run_cli([*base, "init"], events)
    results["cli_export"] = _stripped(run_cli([*base, "export", str(export_path)], events))
    if "verify" in commands:
        skip = ["--skip-replay"] if "--skip-replay" in cli_help("verify") else []
        results["live"] = _stripped(run_cli([*base, "verify", *skip], events))
    else:
        results["live"] = {"available": False, "why": "no `coopreg verify` in this checkout"}
    if not {"verify", "key"} <= audit:
        results["offline"] = {"available": False,
                              "why": "no `coopreg audit verify` and `audit key` here"}
        return results
    vkey = run_cli([*base, "audit", "key"], events)["stdout"].strip().splitlines()
    key = export_path.with_name("log.vkey")
    key.write_text((vkey[0] if vkey else "") + "\n")
    results["offline"] = _stripped(run_cli(["audit", "verify", "--export", str(export_path),
                                            "--public-key", str(key)], events))
    return results


def _stripped(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "stdout"}


# -- HTTP at the largest size -------------------------------------------------------------------


def http_phase(growth: Growth, args: argparse.Namespace, kind: str) -> dict[str, Any]:
    """bench/http_load.py's phases against this store: the registry serving the grown
    history, the bare Flask baseline serving the raw store of the same size."""
    load = argparse.Namespace(seconds=args.http_seconds, requests=50_000, concurrency=8,
                              clients=2, workers=2, threads=4, warmup=args.http_warmup,
                              repeats=args.http_repeats)
    token = http_load.cli(growth.registry_url, "token", "issue", "--role", "partner",
                          "--partner", "ohchr", "--label", "bench-scale").strip().splitlines()[-1]
    actions = growth.history.actions
    with tempfile.TemporaryDirectory(prefix="coopreg-scale-http-") as tmp:
        figures = http_load.measure_servers(
            load, Path(tmp), (growth.registry_url, growth.raw_url), token, kind,
            lambda registry, baseline: settle_everything(registry, baseline, actions))
    figures["settings"] = {k: getattr(load, k) for k in vars(load)}
    return figures


def settle_everything(registry: http_load.Target, baseline: http_load.Target,
                      actions: int, timeout: float = 900.0) -> dict[str, Any]:
    """Before reads: the baseline's row table holds every raw event (one row each, so it is
    at least as big as the registry's read model), filled in steps that each stay well
    inside the client's timeout; the registry's workers include its latest write."""
    if not registry.written or not baseline.written:
        raise RuntimeError("no write succeeded on one side: nothing to read")
    started, upto, step = time.monotonic(), 0, 5_000  # PostgreSQL: ~10 s a step under load
    while True:
        upto += step
        status, body = http_load.request(baseline, "POST", f"/_project?upto={upto}")
        if status != 200:
            raise RuntimeError(f"baseline projection failed: {status} {body[:200]!r}")
        baseline.rows = json.loads(body)["rows"]
        if baseline.rows < upto:
            break
    baseline.readable = [i for _, i in baseline.written]
    registry.readable = [i for _, i in registry.written]
    registry.rows = actions + len(registry.written)
    head = max(registry.written)
    while http_load.request(registry, "GET", f"/v1/actions/{head[1]}")[0] != 200:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"registry read models did not reach {head[0]} in time")
        time.sleep(0.05)
    return {"registry_rows": registry.rows, "baseline_rows": baseline.rows,
            "settle_s": time.monotonic() - started}


# -- where the write path spends its time -----------------------------------------------------


def profile_growth(growth: Growth, args: argparse.Namespace) -> dict[str, Any]:
    """cProfile of growing the history by `--profile-growth` more events (execute_batch,
    catch-up, parsing and the raw side, in this thread); the top functions go to
    scale-profile-<store>.txt next to the results."""
    import cProfile
    import io
    import pstats

    head = growth.head()
    profiler = cProfile.Profile()
    profiler.enable()
    clock = growth.grow(growth.events + args.profile_growth)
    profiler.disable()
    text = io.StringIO()
    text.write(f"cProfile of growing a {growth.store.name} registry from {head:,} events by "
               f"{clock.events:,} (seconds under the profiler: "
               + ", ".join(f"{k} {v:.1f}" for k, v in clock.seconds.items()) + ")\n")
    for key in ("cumulative", "tottime"):
        text.write(f"\nTop 40 by {key}:\n")
        pstats.Stats(profiler, stream=text).sort_stats(key).print_stats(40)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"scale-profile-{growth.store.name}.txt"
    path.write_text(text.getvalue())
    return {"from_events": head, "events": clock.events, "seconds": clock.seconds,
            "file": str(path)}


# -- one store, every size ------------------------------------------------------------------


def measure_size(growth: Growth, size: int, args: argparse.Namespace, folder: Path,
                 reference: Growth | None = None) -> dict[str, Any]:
    name = growth.store.name

    def step(what: str) -> None:
        log(f"[{name}] {size:,}: {what}")

    step("growing")
    clock = growth.grow(size)
    head = growth.head()
    check_events(head, growth.events + growth.extra_events, "growth")
    out: dict[str, Any] = {"size": size, "events_in_store": head,
                           "actions": growth.history.actions,
                           "growth": growth_figures(clock, head)}
    step(f"grown ({', '.join(f'{k} {v:,.0f}/s' for k, v in out['growth']['per_s'].items())})"
         "; replay")
    out["replay"] = replay(growth.registry_url, head)
    step(f"replay {out['replay']['registry']['per_s']:,.0f}/s, peak RSS "
         f"{out['replay']['registry']['rss_mb']['peak']:,.0f} MB; reads and proofs")
    out["reads"] = reads(growth, args.read_repeats, args.seed + size, reference)
    out["proofs"] = proofs(growth, args.proof_repeats, args.seed + size)
    step("p50 ms " + ", ".join(f"{q}: {f['p50_ms']:.1f}"
                               for q, f in out["reads"]["queries"].items())
         + "; export, verify, import")
    out["export_import"] = export_import(growth, folder)
    out["verify"] = measure_verify(growth.registry_url, folder / "cli-export.ndjson", head)
    for export in folder.glob("*.ndjson"):  # the signing key stays: the log keeps one key
        export.unlink()
    step(f"import {out['export_import']['import_per_s']:,.0f}/s; single writes")
    out["single_writes"] = single_writes(growth, args.single)
    growth.extra_events += out["single_writes"]["events"]
    step(f"single writes {out['single_writes']['ratio']:.2f}x raw; one agreement revision")
    out["agreement_revision"] = agreement_revision(growth)
    growth.extra_events += 1
    step(f"revision projected in {out['agreement_revision']['project_s']:.1f} s")
    return out


def agreement_revision(growth: Growth) -> dict[str, Any]:
    """One more agreement revision at this size: the time to record it, and the time the
    read models take to include it (compliance re-derives the agreement's obligations and
    matches them against the live actions)."""
    command = load_command(growth.history.revision())
    growth.services.follower.catch_up()  # the single writes first, not timed
    start = time.perf_counter()
    growth.services.app.execute(command, by=ADMIN)
    recorded = time.perf_counter() - start
    start = time.perf_counter()
    growth.services.follower.catch_up()
    return {"record_s": recorded, "project_s": time.perf_counter() - start}


def growth_figures(clock: Clock, head: int) -> dict[str, Any]:
    rates = {what: clock.rate(what) for what in clock.seconds if what != "analyze"}
    return {"events": clock.events, "seconds": clock.seconds, "per_s": rates,
            "ratio_execute_batch_to_raw_save": (rates["execute_batch"] / rates["raw_save"]
                                                if rates.get("raw_save") else None),
            "events_in_store": head}


Save = Callable[[], None]


def run_store(name: str, args: argparse.Namespace, result: dict[str, Any], save: Save) -> None:
    """Every size, then HTTP, into `result`; `save` writes what is there so far after each
    step (a long run stopped at 1M still leaves its smaller sizes)."""
    try:
        store: Store = SqliteStore() if name == "sqlite" else PostgresStore(args.pg_url)
    except psycopg.OperationalError as error:
        result["skipped"] = "PostgreSQL not reachable: " + " ".join(str(error).split())
        return
    growth: Growth | None = None
    reference: Growth | None = None
    started = time.monotonic()
    try:
        growth = Growth(store, args)
        result["sizes"] = sizes = {}
        with tempfile.TemporaryDirectory(prefix="coopreg-scale-") as folder:
            for size in args.sizes:
                sizes[str(size)] = measure_size(growth, size, args, Path(folder), reference)
                save()
                if reference is None and size != args.sizes[-1]:
                    reference = reference_store(store, args, size)
        if args.profile_growth:
            result["growth_profile"] = profile_growth(growth, args)
        if args.http:
            head = growth.head()
            log(f"[{name}] HTTP at {head:,} events")
            result["http"] = {**http_phase(growth, args, name), "events_in_store": head}
        result["seconds"] = time.monotonic() - started
        save()
    finally:
        for grown in (growth, reference):
            if grown is not None:
                grown.close()
        store.close()


def reference_store(store: Store, args: argparse.Namespace, size: int) -> Growth:
    """The same history (same seed) again, up to the smallest size only: the larger sizes'
    reads are timed beside it, so their growth ratios do not compare different moments of
    a shared machine (a 1M size is measured an hour after 10k)."""
    log(f"[{store.name}] the reference store: the history again, to {size:,} events")
    reference = Growth(store, args)
    reference.grow(size)
    reference.services.follower.catch_up()
    return reference


# -- command line -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full",
                        help="defaults for everything below (ci: 1k and 2k events, SQLite)")
    parser.add_argument("--sizes", help="history sizes in events, comma-separated")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"))
    parser.add_argument("--single", type=int, help="single writes sampled per size")
    parser.add_argument("--read-repeats", type=int, help="timed calls per read query")
    parser.add_argument("--proof-repeats", type=int, help="timed proofs of each kind")
    parser.add_argument("--http-seconds", type=float, help="per HTTP run")
    parser.add_argument("--http-warmup", type=float)
    parser.add_argument("--http-repeats", type=int)
    parser.add_argument("--no-http", dest="http", action="store_false")
    parser.add_argument("--no-follow", dest="follow", action="store_false",
                        help="do not catch the read models up during the growth (replay "
                             "then builds them)")
    parser.add_argument("--analyze", action="store_true",
                        help="ANALYZE the registry store at 2,000 events and at each size "
                             "(the registry never does)")
    parser.add_argument("--batch-size", type=int, default=500, help="commands per batch")
    parser.add_argument("--profile-growth", type=int, default=0, metavar="N",
                        help="after the last size, cProfile growing N more events")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-every", type=int, default=50_000, help="progress lines")
    parser.add_argument("--pg-url", default=os.environ.get("COOPREG_BENCH_PG", PG_URL))
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder of scale.json, scale.md and scale.png")
    parser.add_argument("--child", choices=("replay", "decode"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, value in PROFILES[args.profile].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.sizes = sorted({int(s.replace("_", "")) for s in str(args.sizes).split(",")})
    if min(args.sizes) < 100 or args.single < 4 or args.batch_size < 1:
        parser.error("sizes start at 100 events; --single at 4; --batch-size at 1")
    return args


def postgres_setting(args: argparse.Namespace, name: str) -> str | None:
    """A server setting that changes what the figures mean (autovacuum: statistics)."""
    try:
        with psycopg.connect(args.pg_url.split("?")[0], connect_timeout=5) as conn:
            row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            return str(row[0]) if row else None
    except psycopg.Error:
        return None


def results(args: argparse.Namespace, stores: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchmark": "scale",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "eventsourcing": version("eventsourcing"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1min": {"start": args.load_at_start, "end": os.getloadavg()[0]},
        "profile": args.profile,
        "sizes": args.sizes,
        "batch_size": args.batch_size,
        "follow_during_growth": args.follow,
        "analyze": args.analyze,
        "postgres_autovacuum": postgres_setting(args, "autovacuum") if args.db != "sqlite"
        else None,
        "seed": args.seed,
        "goals": scale_report.GOALS,
        "stores": stores,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child, args.url)
    if importlib.util.find_spec("matplotlib") is None:  # fail now, not at the first chart
        print("scale.py draws its chart with matplotlib: pip install -c constraints.txt "
              "-e '.[bench]'", file=sys.stderr)
        return 2
    http_load.stop_on_sigterm()
    started, args.load_at_start = time.monotonic(), os.getloadavg()[0]
    names = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    stores: dict[str, dict[str, Any]] = {}

    def save() -> None:
        output = results(args, stores)
        output["seconds"] = time.monotonic() - started
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale.json").write_text(json.dumps(output, indent=2) + "\n")
        (args.out / "scale.md").write_text(scale_report.markdown(output))
        scale_report.chart(output, args.out / "scale.png")

    for name in names:
        stores[name] = {}
        run_store(name, args, stores[name], save)
    save()
    print((args.out / "scale.md").read_text())
    log(f"results in {args.out}/scale.{{json,md,png}} "
        f"({time.monotonic() - started:,.0f} s in all)")
    return 0 if any("skipped" not in s for s in stores.values()) else 2


if __name__ == "__main__":
    sys.exit(main())
