"""Crash recovery: the real server (`coopreg serve`, gunicorn with two workers) is killed
with SIGKILL, arbiter and workers at once, at random moments under a write load driven from
another process, and restarted on the same store, again and again. Then nothing the
registry acknowledged may be lost or doubled, no command may be half-recorded, a retry
with the same Idempotency-Key must answer what it answered first, and the read models and
the Merkle tree must be what a replay of the log gives.

The projection follower is also killed on its own, mid-batch, over a store filled in
advance: it must resume exactly once.

COOPREG_CRASH_ROUNDS (default 10 per store) sets the number of server kills;
COOPREG_CRASH_SEED replays the kill timings of an earlier run (printed on failure)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from registry.bootstrap import Services
from registry.schemas import load_command
from tests.conftest import action, agreement, run
from tests.e2e.servers import ROOT, free_port, kill, launch, wait_healthy
from tests.reliability.checks import (
    _coopreg_verify,
    assert_commands_whole,
    assert_each_request_recorded_once,
    assert_positions_contiguous,
    assert_positions_unique_and_ascending,
    assert_read_models_equal_replay,
    assert_read_models_reach,
    assert_tree_matches_log,
    read_log,
)
from tests.reliability.conftest import Store
from tests.reliability.load import Journal, Outcome, body_of, outcomes, receipts, send

ROUNDS = int(os.environ.get("COOPREG_CRASH_ROUNDS", "10"))
SEED = int(os.environ.get("COOPREG_CRASH_SEED", str(random.randrange(1 << 32))))
LOAD_THREADS = 4
KILL_AFTER = (0.05, 0.6)  # seconds of load between a server answering and its death
BOOT_KILL_EVERY = 4  # one kill in four lands while the server starts
KILL_BOOTING_AFTER = (0.1, 1.0)  # seconds after launch
SETTLE_ANSWERS = 12  # fresh answers to see after the last restart before stopping the load


@dataclass
class Kill:
    up_at: float  # time.time() when the server killed had answered /healthz
    at: float  # time.time() of the SIGKILL
    head: int  # the log's last position once the server was dead


@dataclass
class CrashRun:
    store: Store
    base: str
    port: int
    journal: Path
    kills: list[Kill] = field(default_factory=list)

    def start_server(self) -> subprocess.Popen:
        process = launch(self.store.url, self.store.folder, self.port, workers=2)
        wait_healthy(self.base, process, self.store.folder / "server.log")
        return process

    def crash_once(self, rng: random.Random, services: Services, booting: bool) -> None:
        """Start the server and SIGKILL it: after it answered and served the load for a
        moment, or (`booting`) while its workers may still be starting and catching up."""
        if booting:
            server = launch(self.store.url, self.store.folder, self.port, workers=2)
            time.sleep(rng.uniform(*KILL_BOOTING_AFTER))
            up_at = time.time()  # no request is counted as in flight at this kill
        else:
            server = self.start_server()
            up_at = time.time()
            time.sleep(rng.uniform(*KILL_AFTER))
        killed_at = time.time()
        kill(server)
        self.kills.append(Kill(up_at, killed_at, services.app.recorder.max_notification_id()))

    def answers(self) -> int:
        return sum(1 for r in Journal.read(self.journal) if r["event"] == "answered")


@contextmanager
def write_load(crash: CrashRun) -> Iterator[subprocess.Popen]:
    """The load driver, a process of its own; stopped (SIGTERM) it answers what it holds."""
    log = (crash.store.folder / "driver.log").open("wb")
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.load", "--base", crash.base,
         "--token", crash.store.partner_token, "--journal", str(crash.journal),
         "--prefix", crash.store.kind, "--threads", str(LOAD_THREADS)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield driver
    finally:
        if driver.poll() is None:
            driver.send_signal(signal.SIGTERM)
            driver.wait(timeout=120)
        log.close()


def test_a_killed_server_keeps_every_acknowledged_write_exactly_once(store: Store) -> None:
    print(f"COOPREG_CRASH_SEED={SEED}")  # shown with a failure: replays the kill timings
    rng = random.Random(SEED)
    port = free_port()
    crash = CrashRun(store, f"http://127.0.0.1:{port}", port, store.folder / "journal.ndjson")
    with store.open() as services, write_load(crash) as driver:
        for number in range(ROUNDS):
            crash.crash_once(rng, services, booting=number % BOOT_KILL_EVERY == 1)
        server = crash.start_server()
        try:
            _let_retries_settle(crash)
            driver.send_signal(signal.SIGTERM)
            assert driver.wait(timeout=120) == 0, "the load driver failed"
            journal = outcomes(Journal.read(crash.journal))
            answered = _acknowledged(journal)
            _retries_answer_the_first_answer(crash, services, answered)
            assert_read_models_reach(services, services.app.recorder.max_notification_id())
        finally:
            kill(server)  # the last one too: no clean shutdown ever tidies the store
        _check_recovered_store(store, services, answered)
    assert _report(crash, journal) > 0, "no kill hit a request in flight"
    _coopreg_verify(store.url)


def _let_retries_settle(crash: CrashRun) -> None:
    """Wait for fresh answers after the last restart: the requests lost in the last crash
    have been retried by then."""
    wanted = crash.answers() + SETTLE_ANSWERS
    deadline = time.monotonic() + 30
    while crash.answers() < wanted:
        assert time.monotonic() < deadline, "the load got no answers after the restart"
        time.sleep(0.05)


def _acknowledged(journal: dict[str, Outcome]) -> dict[str, dict]:
    """Every request ended in a 2xx: lost answers were retried until answered, and no
    answer was ever a refusal or a server error (a dead server answers nothing; a live
    one must not answer 503 "database is locked" or 500)."""
    final = {key: o.final for key, o in journal.items()}
    unanswered = [key for key, answer in final.items() if answer is None]
    assert not unanswered, f"requests never answered: {unanswered}"
    refused = {key: a for key, a in final.items() if a and a["status"] != 201}
    assert not refused, f"requests refused: {list(refused.items())[:5]} (seed {SEED})"
    errors = [a for o in journal.values() for a in o.answers if a["status"] >= 500]
    assert not errors, f"a live server failed to answer: {errors[:3]}"
    return {key: answer["body"] for key, answer in final.items() if answer}


def _retries_answer_the_first_answer(crash: CrashRun, services: Services,
                                     answered: dict[str, dict]) -> None:
    """Send every request again with its key: the same receipts, and not one new event."""
    head = services.app.recorder.max_notification_id()
    with ThreadPoolExecutor(8) as pool:
        again = dict(zip(answered, pool.map(
            lambda key: send(crash.base, crash.store.partner_token, key), answered),
            strict=True))
    for key, answer in again.items():
        assert answer.status == 201, f"retry of {key}: {answer.status} {body_of(answer)}"
        assert receipts(answer.json) == receipts(answered[key]), f"retry of {key} differs"
    assert services.app.recorder.max_notification_id() == head, "a retry recorded again"


def _check_recovered_store(store: Store, services: Services,
                           answered: dict[str, dict]) -> None:
    log = read_log(services)
    if store.kind == "sqlite":
        assert_positions_contiguous(log)
    else:  # a transaction killed after its insert used sequence numbers: gaps may stay
        assert_positions_unique_and_ascending(log)
    assert_each_request_recorded_once(log, answered)
    assert_commands_whole(log)
    assert services.follower.positions() == dict.fromkeys(services.follower.positions(),
                                                          log.head)
    assert_tree_matches_log(services, log)
    assert_read_models_equal_replay(store.url)


def _report(crash: CrashRun, journal: dict[str, Outcome]) -> int:
    """Print what the run went through (shown with -s or -rA, for the docs' figures);
    answer how many requests were in flight at a kill."""
    in_flight = [(o, death) for o in journal.values() if (death := _killed_under(crash, o))]
    recorded = sum(1 for o, death in in_flight
                   if min(r["position"] for r in receipts(o.final["body"])) <= death.head)
    writes = sum(len(receipts(o.final["body"])) for o in journal.values())
    print(f"\n{crash.store.kind}: {len(crash.kills)} kills (seed {SEED}); "
          f"{len(journal)} requests acknowledged ({writes} actions); {len(in_flight)} "
          f"in flight at a kill, {recorded} of them recorded before it and answered "
          f"by the retry; {sum(o.lost for o in journal.values())} attempts unanswered")
    return len(in_flight)


def _killed_under(crash: CrashRun, outcome: Outcome) -> Kill | None:
    """The kill that took the first attempt's answer, if one did: the first kill after
    the request was first sent, while that server was up."""
    if not outcome.first_lost:
        return None
    for death in crash.kills:
        if death.up_at <= outcome.first_sent < death.at:
            return death
    return None


# -- the projection follower alone ------------------------------------------------------

FOLLOWER_KILLS = 4
PREFILLED_ACTIONS = 1000
SMALL_BATCH = 20  # many commits, so a kill lands inside a batch


def test_a_killed_follower_resumes_exactly_once(store: Store) -> None:
    rng = random.Random(SEED)
    with store.open() as services:
        head = prefill(services)
        reached = [0]
        for _ in range(FOLLOWER_KILLS):
            follower = _follow(store.url)
            for _batch in range(rng.randint(2, 8)):  # committed batches before the kill
                assert follower.stdout and follower.stdout.readline(), "the follower died"
            time.sleep(rng.uniform(0, 0.01))
            follower.kill()
            follower.wait(timeout=10)
            positions = services.follower.positions()
            assert reached[-1] <= min(positions.values()) < head, (
                f"the kill did not land mid-run: {positions}, head {head}")
            reached.append(min(positions.values()))
        finished = _follow(store.url)
        output, _ = finished.communicate(timeout=120)
        assert finished.returncode == 0 and output.rstrip().endswith("caught up"), output
        _check_resumed_exactly_once(services, head)
    print(f"\n{store.kind}: follower killed {FOLLOWER_KILLS} times at positions "
          f"{reached[1:]} of {head}, resumed exactly once")


def _follow(url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.follow", url,
                             str(SMALL_BATCH)], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def _check_resumed_exactly_once(services: Services, head: int) -> None:
    """Every read model is at the head; the ledger has one leaf per event, no gap; and
    every read model equals a single clean catch-up (with the default batch size)."""
    assert services.follower.positions() == dict.fromkeys(services.follower.positions(), head)
    log = read_log(services)
    assert_tree_matches_log(services, log)
    resumed = services.follower.digests()
    services.follower.rebuild()
    assert services.follower.digests() == resumed


def prefill(services: Services) -> int:
    """Actions under an agreement, some amended, acknowledged or retracted: work for every
    read model. Nothing follows the log meanwhile: the read models start empty."""
    run(services, agreement())
    for start in range(0, PREFILLED_ACTIONS, 250):
        found = services.app.execute_batch([load_command(action(
            summary=f"Prefilled action {n}", occurred_on=f"20{15 + n % 9}-03-04",
            agreement="ohchr-odihr-2014", commitment="implement-recommendations"))
            for n in range(start, start + 250)], by="partner:ohchr")
        for number, receipt in enumerate(found[::50]):
            correction = _correction(number, receipt.aggregate_id)
            run(services, correction, by=f"partner:{correction.get('partner', 'ohchr')}")
    return services.app.recorder.max_notification_id()


def _correction(number: int, action_id: str) -> dict:
    if number % 3 == 0:
        return {"command": "retract_action", "action_id": action_id,
                "reason": "reported twice", "expected_version": 1}
    if number % 3 == 1:
        return {"command": "acknowledge_action", "action_id": action_id,
                "partner": "osce-odihr", "note": "confirmed"}
    return {"command": "amend_action", "action_id": action_id, "expected_version": 1,
            "changes": {"venue": "Vienna"}, "reason": "the venue was missing"}
