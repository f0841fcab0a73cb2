"""Do the scale benchmark's list reads hold as history grows? The read models of two
histories (10k and 1M events by default) are written straight into the tables, as
`bench/as_of.py` does, and the same list queries as `bench/scale.py`'s `read_queries` are
timed on both in one run (now and as of the middle), with the rows each walk visits.

    .venv/bin/python bench/lists.py --sizes 10000,1000000 --db sqlite

Parameters are drawn as `bench/scale.py` draws them, from this history's vocabulary (its
themes are `bench/as_of.py`'s); the longest period recorded is set to 4 days, as in
`bench/history.py`'s stream, so an occurred range is looked for from as far before it.
Each query's calls alternate between the sizes, so both see the same busy machine.
"steps" is SQLite's virtual-machine instructions per call (progress handler, to the
hundred): work that a busy machine does not change, though a page read is one step
whether cached or not; "visited" is how many tag rows the walk read up to its last match:
the rows it must test.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from as_of import COUNTRIES, KINDS, PARTNERS, THEMES, _store, load

from registry.bootstrap import open_registry
from registry.projections import ActionFilter, Queries

Prepared = Callable[[random.Random], tuple[Callable[[], Any], ActionFilter]]


def read_queries(q: Queries, mid: int) -> dict[str, Prepared]:
    """The list reads of `bench/scale.py`'s `read_queries`, same parameters."""
    countries = ("UA", "GE", "FR", "KE", "BR", "PL", "US", "AM")

    def make(where: ActionFilter, as_of: int | None = None) -> tuple[Callable[[], Any],
                                                                       ActionFilter]:
        return (lambda: q.actions(where, as_of=as_of, limit=20)), where

    return {
        "actions country=UA (20)": lambda r: make(ActionFilter(country="UA")),
        "actions partner+kind (20)": lambda r: make(
            ActionFilter(partner=r.choice(PARTNERS), kind=r.choice(KINDS))),
        "actions theme, in 2016 (20)": lambda r: make(
            ActionFilter(theme=r.choice(THEMES), occurred_from=date(2016, 1, 1),
                         occurred_to=date(2016, 12, 31))),
        "as-of actions country (20)": lambda r: make(
            ActionFilter(country=r.choice([c for c in countries if c in COUNTRIES])), mid),
        "as-of partner+kind (20)": lambda r: make(
            ActionFilter(partner=r.choice(PARTNERS), kind=r.choice(KINDS)), mid),
        "as-of theme, in 2016 (20)": lambda r: make(
            ActionFilter(theme=r.choice(THEMES), occurred_from=date(2016, 1, 1),
                         occurred_to=date(2016, 12, 31)), mid),
    }


def visited(q: Queries, where: ActionFilter, as_of: int | None, last: Any) -> int:
    """Tag rows of the driving tag up to the page's last row (the rows the walk tests)."""
    tag = next((t for t in ("country", "theme", "partner") if getattr(where, t)), None)
    if tag is None or last is None:
        return 0
    start = "0000"  # a range's walk starts the longest period before it
    if where.occurred_from is not None:
        start = (where.occurred_from - timedelta(days=q._longest_period())).isoformat()
    row = q.sql.one(
        f"SELECT COUNT(*) AS n FROM {q.sql.table('action_tags')} WHERE tag = ? AND value = ? "
        "AND occurred_start >= ? AND (occurred_start, action_id) <= (?, ?)"
        + ("" if as_of is None else " AND valid_from <= ?"),
        [tag, getattr(where, tag), start, last["occurred_on"]["start"], last["id"],
         *([] if as_of is None else [as_of])])
    return int(row["n"]) if row else 0


def stretch(url: str) -> None:
    """bench/history.py's actions last up to 4 days (as_of.py's up to 2): an occurred range
    is looked for from 4 days before it, as in the scale benchmark's store."""
    with open_registry(url) as services:
        sql = services.queries.sql
        with sql.transaction() as cursor:
            sql.execute(cursor, f"UPDATE {sql.table('action_periods')} SET longest_days = 4")


class Probe:
    """One store's queries, and its SQLite connection's VM steps."""

    def __init__(self, services: Any, events: int) -> None:
        self.q, self.events, self.steps = services.queries, events, 0
        self.connection = None
        if not self.q.sql.postgres:  # count VM steps on the reading connection
            with self.q.sql.transaction(commit=False) as cursor:
                self.connection = cursor.sqlite_cursor.connection

    def tick(self) -> int:
        self.steps += 100
        return 0

    def call(self, name: str, prepare: Prepared, rng: random.Random,
             samples: dict[str, list[float]]) -> None:
        call, where = prepare(rng)
        if self.connection is not None:
            self.steps = 0
            self.connection.set_progress_handler(self.tick, 100)
        wall, cpu = time.perf_counter(), time.process_time()
        page = call()
        samples["p50"].append((time.perf_counter() - wall) * 1000)
        samples["cpu"].append((time.process_time() - cpu) * 1000)
        if self.connection is not None:
            self.connection.set_progress_handler(None, 100)
            samples["steps"].append(self.steps)
        if len(samples["visited"]) < 30:
            samples["visited"].append(visited(
                self.q, where, self.events // 2 if "as-of" in name else None,
                page.items[-1] if page.items else None))


def measure(stores: dict[int, str], repeats: int, seed: int
            ) -> dict[str, dict[int, dict[str, float]]]:
    """Each query's calls alternate between the stores, so that every size sees the same
    machine; each store draws the same parameters."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    opened = {size: open_registry(url) for size, url in stores.items()}
    try:
        probes = {size: Probe(services, size) for size, services in opened.items()}
        names = list(read_queries(probes[min(probes)].q, 0))
        for name in names:
            prepared = {size: read_queries(p.q, size // 2)[name] for size, p in probes.items()}
            rngs = {size: random.Random(seed) for size in probes}
            samples = {size: {"p50": [], "cpu": [], "steps": [], "visited": []}
                       for size in probes}
            for size in probes:
                prepared[size](random.Random(seed))[0]()  # warm
            for _ in range(repeats):
                for size, probe in probes.items():
                    probe.call(name, prepared[size], rngs[size], samples[size])
            out[name] = {size: {key: statistics.median(values) if values else 0
                                for key, values in found.items()}
                         for size, found in samples.items()}
    finally:
        for services in opened.values():
            services.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", metavar="DIR", help="SQLite: keep the stores in DIR, and "
                        "measure the ones found there instead of building them again")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        stores: dict[int, str] = {}
        drops = []
        try:
            for size in sizes:
                kept = Path(args.keep or folder) / f"lists-{size}.db"
                if args.db == "sqlite" and args.keep and kept.exists():
                    stores[size] = f"sqlite:///{kept}"
                    continue
                url, drop = _store(args.db, folder, args.postgres)
                if args.db == "sqlite":
                    url = f"sqlite:///{kept}"
                stores[size] = url
                drops.append(drop)
                print(f"{args.db}: building {size} events", flush=True)
                load(url, size)
                stretch(url)
            results = measure(stores, args.repeats, args.seed)
        finally:
            for drop in drops:
                drop()
    small, large = sizes[0], sizes[-1]
    print(f"\n{args.db}: p50 ms of {args.repeats} calls per size (alternating), CPU ms, "
          "SQLite steps, tag rows visited")
    print(f"| query | {small:,} | {large:,} | ratio | CPU | steps | visited |")
    print("| --- | ---: | ---: | ---: | --- | --- | --- |")
    for name, by_size in results.items():
        a, b = by_size[small], by_size[large]
        print(f"| {name} | {a['p50']:.2f} | {b['p50']:.2f} | x{b['p50'] / a['p50']:.2f} | "
              f"{a['cpu']:.2f} -> {b['cpu']:.2f} | {a['steps']:.0f} -> {b['steps']:.0f} | "
              f"{a['visited']:.0f} -> {b['visited']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
