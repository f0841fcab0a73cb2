"""Concurrency: many writers on one store, through several server processes at once.

- PostgreSQL: two `coopreg serve` processes (one gunicorn worker x 8 threads each) on one
  database schema, 16 client threads writing through both.
- SQLite: one `coopreg serve` with 4 gunicorn workers (x 4 threads) on one file, the same
  16 client threads.

Then: one global order with no gap and no position used twice; every acknowledged write
recorded once, each command whole; no client ever sees a 5xx or "database is locked";
concurrent amendments of one action based on the same version: exactly one wins, the
others are refused (412) and the action gains exactly one version; and the Merkle tree is
the tree of the log.

What PostgreSQL guarantees about positions (eventsourcing/postgres.py): notification ids
come from a `bigserial` sequence, and every inserting transaction first takes `LOCK TABLE
... IN EXCLUSIVE MODE`, so inserts are serialized and commit in id order: readers never
see a later id before an earlier one commits. A sequence value is not given back when its
transaction rolls back, though, so an insert that fails (a unique-key conflict: the loser
of two amendments that both passed the version check) or dies (a killed server) leaves a
hole. Hence: with nothing rolled back (the write load here) the order is 1..N exactly;
after a race of amendments, positions stay unique and ascending and the holes are no more
than the refused amendments. SQLite's position is the rowid (max + 1 at insert, nothing
deleted), so it never has a hole."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry.bootstrap import open_registry
from registry.store import Sql
from tests.conftest import action, partner, run
from tests.e2e.servers import Answer, free_port, http_call, kill, launch, wait_healthy
from tests.reliability.checks import (
    Log,
    assert_commands_whole,
    assert_each_request_recorded_once,
    assert_positions_contiguous,
    assert_positions_unique_and_ascending,
    assert_read_models_reach,
    assert_tree_matches_log,
    read_log,
)
from tests.reliability.conftest import Store, fresh_store
from tests.reliability.load import action_body, actions_of, body_of, is_import, receipts, send

CLIENT_THREADS = 16
REQUESTS_PER_THREAD = 12
CONTENDERS = 8  # clients amending one action at once


@dataclass
class Cluster:
    store: Store
    bases: list[str]  # one per server process
    answers: dict[str, Answer]  # the load's requests, by idempotency key
    log: Log  # the log right after the load

    def base(self, client: int) -> str:
        return self.bases[client % len(self.bases)]


def topology(kind: str) -> list[tuple[int, int]]:
    """(gunicorn workers, threads) of each server process."""
    return [(1, 8), (1, 8)] if kind == "postgres" else [(4, 4)]


@pytest.fixture(scope="module", params=[
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            postgres_reason: str | None) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp(f"cluster-{request.param}")
    with fresh_store(request.param, folder, postgres_reason) as store, ExitStack() as servers:
        bases = []
        for number, (workers, threads) in enumerate(topology(store.kind)):
            port = free_port()
            process = launch(store.url, folder, port, workers, threads,
                             log_name=f"server-{number}.log")
            servers.callback(kill, process)
            bases.append(f"http://127.0.0.1:{port}")
            wait_healthy(bases[-1], process, folder / f"server-{number}.log")
        answers = write_concurrently(store, bases)
        with store.open() as services:
            yield Cluster(store, bases, answers, read_log(services))


def write_concurrently(store: Store, bases: list[str]) -> dict[str, Answer]:
    """16 clients, each sending its requests one after another to its server."""
    def client(number: int) -> list[tuple[str, Answer]]:
        keys = [f"{store.kind}-c{number}-{n}" for n in range(REQUESTS_PER_THREAD)]
        return [(key, send(bases[number % len(bases)], store.partner_token, key))
                for key in keys]

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        return dict(pair for answers in pool.map(client, range(CLIENT_THREADS))
                    for pair in answers)


def test_no_client_sees_a_server_error_or_a_locked_database(cluster: Cluster) -> None:
    failed = {key: (a.status, body_of(a)) for key, a in cluster.answers.items()
              if a.status >= 500 or b"database is locked" in a.body}
    assert not failed, f"{len(failed)} requests failed: {list(failed.items())[:3]}"
    refused = {key: (a.status, body_of(a)) for key, a in cluster.answers.items()
               if a.status != 201}
    assert not refused, f"{len(refused)} requests refused: {list(refused.items())[:3]}"


def test_concurrent_writes_get_one_global_order_without_gaps(cluster: Cluster) -> None:
    assert_positions_contiguous(cluster.log)  # nothing rolled back during the load
    promised = [r["position"] for a in cluster.answers.values() if a.status == 201
                for r in a.json.get("receipts", [a.json])]
    assert len(promised) == len(set(promised)), "two writes were promised one position"


def test_every_acknowledged_write_is_recorded_once_and_whole(cluster: Cluster) -> None:
    answered = {key: a.json for key, a in cluster.answers.items() if a.status == 201}
    assert len(answered) == CLIENT_THREADS * REQUESTS_PER_THREAD
    assert_each_request_recorded_once(cluster.log, answered)
    assert_commands_whole(cluster.log)


def test_concurrent_amendments_of_one_action_lose_no_update(cluster: Cluster) -> None:
    """Every contender read version 1 and amends it (If-Match: "1"): one wins, the
    others learn their version is stale; the action has exactly one new version."""
    token = cluster.store.partner_token
    reported = http_call(cluster.bases[0], "POST", "/v1/actions", token,
                         action_body("contended-0"))
    assert reported.status == 201, reported.body
    action_id, head = reported.json["id"], reported.json["position"]
    start = threading.Barrier(CONTENDERS)

    def amend(number: int) -> Answer:
        start.wait()
        return http_call(cluster.base(number), "POST", f"/v1/actions/{action_id}/amendments",
                         token, {"changes": {"venue": f"Venue {number}"},
                                 "reason": f"contender {number}"}, {"If-Match": '"1"'})

    with ThreadPoolExecutor(CONTENDERS) as pool:
        answers = list(pool.map(amend, range(CONTENDERS)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [201] + [412] * (CONTENDERS - 1), [body_of(a) for a in answers]
    winner = next(n for n, a in enumerate(answers) if a.status == 201)
    read = http_call(cluster.base(1), "GET", f"/v1/actions/{action_id}?min_position="
                     f"{answers[winner].json['position']}", token)
    assert [v["version"] for v in read.json["history"]] == [1, 2]
    assert read.json["venue"] == f"Venue {winner}"
    with cluster.store.open() as services:
        log = read_log(services)
    amended = [n for n in log.notifications if str(n.originator_id) == action_id]
    assert [n.originator_version for n in amended] == [1, 2]
    assert_positions_unique_and_ascending(log)
    holes = set(range(head + 1, log.head + 1)) - set(log.positions)
    assert len(holes) <= CONTENDERS - 1, "holes in the order beyond the refused inserts"
    if cluster.store.kind == "sqlite":
        assert not holes


def test_one_request_retried_at_once_by_impatient_clients_is_recorded_once(
        cluster: Cluster) -> None:
    """The same request under one Idempotency-Key, sent by 8 clients at the same moment
    through every server (a client that timed out and retried while its first attempt was
    still running): every answer is the first answer, and the actions exist once."""
    key = f"{cluster.store.kind}-impatient-4"  # an import: three actions and their claim
    assert is_import(key)
    start = threading.Barrier(CONTENDERS)

    def retry(number: int) -> Answer:
        start.wait()
        return send(cluster.base(number), cluster.store.partner_token, key)

    with ThreadPoolExecutor(CONTENDERS) as pool:
        answers = list(pool.map(retry, range(CONTENDERS)))
    assert [a.status for a in answers] == [201] * CONTENDERS, [body_of(a) for a in answers]
    assert len({a.body for a in answers}) == 1, "the retries got different receipts"
    with cluster.store.open() as services:
        stored = read_log(services).actions.get(key, [])
    assert len(stored) == actions_of(key) == len(receipts(answers[0].json))
    assert {r.id for r in stored} == {r["id"] for r in receipts(answers[0].json)}


def test_the_tree_is_the_tree_of_the_log_after_the_load(cluster: Cluster) -> None:
    with cluster.store.open() as services:
        head = services.app.recorder.max_notification_id()
        assert_read_models_reach(services, head)
        assert_tree_matches_log(services, read_log(services))


def test_a_follower_batch_waits_for_a_writer_in_another_process_on_sqlite(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A follower batch reads (cached obligations, the tree's edge) before it writes. If
    another process commits in between, SQLite refuses the batch's first write at once
    ("database is locked": its snapshot is stale, and the busy timeout does not apply),
    which made a server restarted under write load fail to boot. The batch now holds the
    write lock from its start, so the other writer waits its turn instead."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with open_registry(url) as follower_side, open_registry(url) as writer_side:
        for pid in ("ohchr", "osce-odihr"):
            run(follower_side, partner(pid))
        follower_side.follower.catch_up()
        run(follower_side, action())
        writers: list[threading.Thread] = []
        execute = Sql.execute

        def read_then_let_another_process_write(self: Sql, cursor: Any, statement: str,
                                                params: Any = ()) -> Any:
            result = execute(self, cursor, statement, params)
            if not writers and statement.lstrip().upper().startswith("SELECT"):
                writers.append(threading.Thread(
                    target=run, args=(writer_side, partner("un-desa"))))
                writers[0].start()
                writers[0].join(0.5)  # commits at once unless the batch holds the lock
            return result

        monkeypatch.setattr(Sql, "execute", read_then_let_another_process_write)
        follower_side.follower.catch_up()  # the batch's first read is the hooked one
        monkeypatch.undo()
        assert writers, "the batch read nothing before writing"
        writers[0].join(10)
        assert not writers[0].is_alive(), "the other writer never got its turn"
        follower_side.follower.catch_up()
        head = follower_side.app.recorder.max_notification_id()
        assert follower_side.follower.positions() == dict.fromkeys(
            follower_side.follower.positions(), head)


def test_processes_starting_at_once_on_one_postgres_database_all_start(
        postgres_url: str) -> None:
    """Every process opening the store creates what is missing, and eventsourcing replaces
    its insert function on PostgreSQL each time: two at once failed ("tuple concurrently
    updated"; on a new store, duplicate catalog rows), and a gunicorn worker that fails
    to boot stops the whole server (seen in the crash tests' restarts). Openings now take
    turns: all start, on a new store and on an existing one."""
    openers = 4
    start = threading.Barrier(openers)

    def open_and_close(_: int) -> int:
        start.wait()
        with open_registry(postgres_url) as services:
            return services.app.recorder.max_notification_id() or 0

    for _store in ("new", "existing"):
        with ThreadPoolExecutor(openers) as pool:
            assert list(pool.map(open_and_close, range(openers))) == [0] * openers
