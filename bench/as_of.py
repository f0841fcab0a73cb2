"""As-of query latency at scale: the read models of a large history, queried as of early,
middle and late positions (and now), on SQLite and PostgreSQL.

The rows are written straight into the read-model tables the projections create (the
same schema and indexes), with the shape of `bench/history.py`'s stream: 73% reports, 15%
acknowledgements, 8% amendments, 3% retractions, 1% disputes of recent actions; about six
tags per version; one clock row per event. Building 1M events through the write path takes
the scale benchmark (`bench/scale.py`) many minutes; the queries only see the tables, so
this measures them in one.

    .venv/bin/python bench/as_of.py --events 1000000 --db both
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.bootstrap import open_registry
from registry.projections import ActionFilter, Queries
from registry.projections.actions import group_id, groups
from registry.projections.clock import stamp

PARTNERS = ["ohchr", "osce-odihr", "coe", "un-desa", "unhcr", "unicef", "undp", "eu-fra",
            "au-achpr", "oas-iachr"]
WEIGHTS = [24, 15, 14, 9, 8, 8, 6, 6, 5, 5]
KINDS = ["information_shared", "work_plan_shared", "outputs_transmitted", "meeting_attended",
         "expert_meeting_held", "joint_mission", "joint_activity", "statement_delivered",
         "submission_to_mechanism", "consultation", "training", "focal_point_designated"]
COUNTRIES = [
    "UA", "MD", "GE", "AM", "AZ", "AL", "BA", "RS", "ME", "MK", "XK", "TR", "PL", "HU", "RO",
    "BG", "GR", "IT", "FR", "DE", "ES", "PT", "CH", "AT", "BE", "NL", "DK", "SE", "NO", "FI",
    "EE", "LV", "LT", "BY", "RU", "KZ", "KG", "TJ", "UZ", "TM", "MN", "US", "CA", "MX", "BR",
    "AR", "CO", "PE", "CL", "KE", "NG", "ZA", "EG", "ET", "GH", "SN", "UG", "TZ", "JP", "KR",
    "IN"]
THEMES = ["human-rights", "rule-of-law", "elections", "gender-equality", "migration",
          "rights-of-persons-with-disabilities", "children", "freedom-of-expression"]
MECHANISMS = ["upr", "crpd", "ccpr", "cedaw", "crc", "cat", "special-procedures"]
OPS = [("acknowledged", 15), ("amended", 8), ("retracted", 3), ("disputed", 1)]
POOL = 4000  # corrections touch recent actions, as in bench/history.py
START = datetime(2015, 1, 1, tzinfo=UTC)


# -- the history -------------------------------------------------------------------------


def plan(events: int, seed: int = 7) -> list[list[Any]]:
    """Every version: [action no, version, valid_from, valid_to, event, status]."""
    rng = random.Random(seed)
    versions: list[list[Any]] = []
    current: dict[int, list[Any]] = {}
    pool: list[int] = []
    actions = 0
    for position in range(1, events + 1):
        if pool and rng.random() < 0.27:
            event = rng.choices([o for o, _ in OPS], [w for _, w in OPS])[0]
            number = pool[rng.randrange(len(pool))]
            previous = current[number]
            previous[3] = position
            status = "retracted" if event == "retracted" else "reported"
            row = [number, previous[1] + 1, position, None, event, status]
            if event == "retracted":
                pool.remove(number)
        else:
            number, actions = actions, actions + 1
            row = [number, 1, position, None, "reported", "reported"]
            pool.append(number)
            if len(pool) > POOL:
                pool.pop(0)
        current[row[0]] = row
        versions.append(row)
    return versions


def action_rows(versions: list[list[Any]]) -> Iterator[tuple[tuple[Any, ...], list[tuple]]]:
    """(action_versions row, its tags) for every version, in position order."""
    for number, version, valid_from, valid_to, event, status in versions:
        rng = random.Random(number)
        reporter = rng.choices(PARTNERS, WEIGHTS)[0]
        other = rng.choice([p for p in PARTNERS if p != reporter])
        day = date(2008, 1, 1) + timedelta(days=rng.randrange(17 * 365))
        if event == "amended":
            day += timedelta(days=random.Random(number * 31 + version).randrange(-20, 20))
        end = day + timedelta(days=rng.choice([0, 0, 0, 1, 2]))
        countries = rng.sample(COUNTRIES, rng.choice([1, 1, 1, 2]))
        facts = {"reporting_partner": reporter, "partners": [reporter, other],
                 "kind": rng.choice(KINDS), "occurred_on": {"start": day.isoformat(),
                                                            "end": end.isoformat()},
                 "countries": countries, "themes": [rng.choice(THEMES)],
                 "mechanisms": [rng.choice(MECHANISMS)], "agreement": None,
                 "commitment": None, "venue": "Geneva", "references": [],
                 "summary": f"{reporter} and {other}: a {rng.choice(KINDS)} in {countries[0]}",
                 "provenance": "reported"}
        action_id = str(uuid.UUID(int=number + 1))
        recorded = stamp(START + timedelta(seconds=valid_from * 30))
        row = (action_id, version, valid_from, valid_to, event, status, reporter, facts["kind"],
               day.isoformat(), end.isoformat(), None, None, json.dumps(facts), None, None, "[]",
               recorded, f"partner:{reporter}", recorded, "claimed", "{}")
        tags = [("partner", reporter), ("partner", other), ("counterpart", other),
                *(("country", c) for c in countries), ("theme", facts["themes"][0]),
                ("mechanism", facts["mechanisms"][0])]
        if number % 97 == 0:
            tags.append(("flag", "desa.avoid-duplication"))
        yield row, [(t, v, day.isoformat(), action_id, version, valid_from, facts["kind"],
                     end.isoformat()) for t, v in sorted(set(tags))]


class Tallies:
    """The running tallies the actions projection keeps (`action_tallies`), computed with
    its own `groups` and group ids: a row per group whose live count a version changes."""

    def __init__(self) -> None:
        self.live: dict[tuple[str, ...], list[int]] = {}  # group -> [id, live]
        self.held: dict[str, frozenset[tuple[str, ...]]] = {}  # action -> its groups
        self.groups: list[list[Any]] = []  # their rows, without the current count

    def group_rows(self) -> list[list[Any]]:
        return [[*row, self.live[tuple(row[:4])][1]] for row in self.groups]

    def rows(self, version: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        action_id, position, status = version[0], version[2], version[5]
        before = self.held.get(action_id, frozenset())
        after = self.held[action_id] = groups(json.loads(version[12]), status)
        out, created = [], 0
        for group in sorted(before ^ after):
            if group not in self.live:
                self.live[group] = [group_id(position, created), 0]
                self.groups.append([*group, self.live[group][0], position])
                created += 1
            tally = self.live[group]
            tally[1] += 1 if group in after else -1
            out.append((tally[0], position, tally[1]))
        return out


def counts(versions: list[list[Any]]) -> Iterator[tuple[int, ...]]:
    """The actions' running count per event (every synthetic version stays claimed)."""
    reported = retracted = 0
    for _number, version, valid_from, _to, event, _status in versions:
        if event == "retracted":
            reported, retracted = reported - 1, retracted + 1
        elif version == 1:
            reported += 1
        yield (valid_from, reported, 0, 0, retracted, 0, 0)


def load(url: str, events: int) -> None:
    """Create the read models with the registry's own DDL, then bulk-write the rows."""
    with open_registry(url) as services:
        sql = services.queries.sql
    versions = plan(events)
    started = time.perf_counter()
    clock = [(p, stamp(START + timedelta(seconds=p * 30)),
              stamp(START + timedelta(seconds=p * 30))) for p in range(1, events + 1)]
    if sql.postgres:
        _load_postgres(url, sql.schema, versions, clock)
    else:
        _load_sqlite(url.removeprefix("sqlite:///"), versions, clock)
    print(f"  loaded {events} events ({len(versions)} versions) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)


def _load_sqlite(path: str, versions: list[list[Any]], clock: list[tuple]) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous = OFF")
    tallies = Tallies()
    with db:
        for row, tags in action_rows(versions):
            db.execute(f"INSERT INTO action_versions VALUES ({','.join('?' * 21)})", row)
            db.executemany("INSERT INTO action_tags VALUES (?,?,?,?,?,?,?,?)", tags)
            db.executemany("INSERT INTO action_tallies VALUES (?,?,?)", tallies.rows(row))
        db.executemany("INSERT INTO action_tally_groups VALUES (?,?,?,?,?,?,?)",
                       tallies.group_rows())
        db.executemany("INSERT INTO clock VALUES (?,?,?)", clock)
        db.execute("INSERT INTO action_periods VALUES ('actions', 2)")
        db.executemany("INSERT INTO action_counts VALUES (?,?,?,?,?,?,?)", counts(versions))
        db.execute("INSERT INTO tracking VALUES ('clock', ?)", (len(clock),))
    db.close()


def _load_postgres(url: str, schema: str, versions: list[list[Any]], clock: list[tuple]) -> None:
    import psycopg

    dsn = url.split("?")[0]
    # one COPY at a time per connection: the tags and tallies go through others
    tallies = Tallies()
    with psycopg.connect(dsn) as conn, psycopg.connect(dsn) as tag_conn, \
            psycopg.connect(dsn) as tally_conn, conn.cursor() as cur:
        with cur.copy(f'COPY "{schema}".action_versions FROM STDIN') as versions_copy, \
                tag_conn.cursor().copy(f'COPY "{schema}".action_tags FROM STDIN') as tags_copy, \
                tally_conn.cursor().copy(f'COPY "{schema}".action_tallies FROM STDIN') as tally:
            for row, tags in action_rows(versions):
                versions_copy.write_row(row)
                for tag in tags:
                    tags_copy.write_row(tag)
                for tallied in tallies.rows(row):
                    tally.write_row(tallied)
        tag_conn.commit()
        tally_conn.commit()
        with cur.copy(f'COPY "{schema}".action_tally_groups FROM STDIN') as copy:
            for group in tallies.group_rows():
                copy.write_row(group)
        with cur.copy(f'COPY "{schema}".clock FROM STDIN') as copy:
            for row in clock:
                copy.write_row(row)
        cur.execute(f'INSERT INTO "{schema}".action_periods VALUES (%s, %s)', ("actions", 2))
        with cur.copy(f'COPY "{schema}".action_counts FROM STDIN') as copy:
            for row in counts(versions):
                copy.write_row(row)
        cur.execute(f'INSERT INTO "{schema}".clock_tracking VALUES (%s, %s)',
                    ("clock", len(clock)))
        conn.commit()
        conn.autocommit = True
        cur.execute(f'ANALYZE "{schema}".action_versions')
        cur.execute(f'ANALYZE "{schema}".action_tags')
        cur.execute(f'ANALYZE "{schema}".clock')
        cur.execute(f'ANALYZE "{schema}".action_tallies')
        cur.execute(f'ANALYZE "{schema}".action_tally_groups')


# -- the queries -------------------------------------------------------------------------


def queries(q: Queries, events: int) -> dict[str, Callable[[int | None], Any]]:
    year = ActionFilter(occurred_from=date(2014, 1, 1), occurred_to=date(2014, 12, 31))
    some_id = str(uuid.UUID(int=events // 3))
    return {
        "actions, first page": lambda p: q.actions(as_of=p),
        "actions, country=UA": lambda p: q.actions(ActionFilter(country="UA"), as_of=p),
        "actions, partner=un-desa": lambda p: q.actions(ActionFilter(partner="un-desa"),
                                                        as_of=p),
        "actions, kind=training": lambda p: q.actions(ActionFilter(kind="training"), as_of=p),
        "actions, occurred in 2014": lambda p: q.actions(year, as_of=p),
        "actions, UA in 2014": lambda p: q.actions(ActionFilter(
            country="UA", occurred_from=date(2014, 1, 1), occurred_to=date(2014, 12, 31)),
            as_of=p),
        "one action with history": lambda p: q.action(some_id, as_of=p),
        "flags, first page": lambda p: q.flagged(as_of=p),
        "who did what where, UA": lambda p: q.who_did_what_where(country="UA", as_of=p),
        "who did what where, all": lambda p: q.who_did_what_where(as_of=p),
        "activity per theme": lambda p: q.activity("theme", as_of=p),
        "activity per mechanism": lambda p: q.activity("mechanism", as_of=p),
        "summary (counts all)": lambda p: q.summary(as_of=p),
    }


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (CPU: this process, so SQLite's whole cost and
    none of the waiting for a busy machine; PostgreSQL's server time is not in it)."""
    call()  # warm the cache
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def measure(url: str, events: int, repeats: int) -> dict[str, dict[str, tuple[float, float]]]:
    points = {"now": None, "as of 0.3%": events * 3 // 1000, "as of 50%": events // 2,
              "as of 99%": events * 99 // 100}
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with open_registry(url) as services:
        q = services.queries
        moment = START + timedelta(seconds=events // 2 * 30)
        results["time -> position"] = {"now": timed(lambda: q.position_at(moment), repeats)}
        for name, query in queries(q, events).items():
            results[name] = {label: timed(lambda p=p, query=query: query(p), repeats)
                             for label, p in points.items()}
    return results


def report(title: str, results: dict[str, dict[str, tuple[float, float]]]) -> None:
    columns = ["now", "as of 0.3%", "as of 50%", "as of 99%"]
    print(f"\n{title} (median ms, wall / CPU of this process)")
    print(f"| query | {' | '.join(columns)} |")
    print(f"| --- | {' | '.join('---:' for _ in columns)} |")
    for name, row in results.items():
        cells = [f"{row[c][0]:.1f} / {row[c][1]:.1f}" if c in row else "" for c in columns]
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="keep the stores (SQLite file in DIR, PostgreSQL schema) to look at")
    parser.add_argument("--store", metavar="URL", default=None,
                        help="measure a store built before (with --keep) instead of building")
    args = parser.parse_args()
    if args.store:
        report(f"{args.store}, {args.events} events", measure(args.store, args.events,
                                                              args.repeats))
        return
    stores = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    for store in stores:
        with tempfile.TemporaryDirectory() as folder:
            url, drop = _store(store, args.keep or folder, args.postgres)
            try:
                print(f"{store}: building {args.events} events", flush=True)
                load(url, args.events)
                report(f"{store}, {args.events} events", measure(url, args.events,
                                                                 args.repeats))
            finally:
                if args.keep:
                    print(f"kept {url}")
                else:
                    drop()


def _store(kind: str, folder: str, dsn: str) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{folder}/as_of-{uuid.uuid4().hex[:8]}.db", lambda: None
    import psycopg

    schema = f"coopreg_as_of_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return f"{dsn}?schema={schema}", drop


if __name__ == "__main__":
    main()
