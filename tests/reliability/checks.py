"""What must hold of a store after crashes and concurrent writes, checked against the
event log itself (not the API's view of it): positions, exactly-once recording of every
request, whole commands, read models equal to a replay, and the Merkle tree equal to the
one recomputed from the stored events."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from registry.bootstrap import Services
from registry.io import iter_notifications
from registry.ledger.leaves import event_leaf_hash
from registry.ledger.merkle import root
from tests.e2e.servers import ROOT
from tests.reliability.load import PARTNER, actions_of, is_import, key_of_summary, receipts

PRINCIPAL = f"partner:{PARTNER}"


@dataclass(frozen=True)
class Recorded:
    id: str
    version: int
    position: int


@dataclass
class Log:
    """The stored events, read in global order, with what the load recorded picked out."""

    notifications: list[Any]
    actions: dict[str, list[Recorded]] = field(default_factory=dict)  # load key -> actions
    claims: dict[str, tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def positions(self) -> list[int]:
        return [n.id for n in self.notifications]

    @property
    def head(self) -> int:
        return self.notifications[-1].id if self.notifications else 0


def read_log(services: Services) -> Log:
    log = Log(list(iter_notifications(services.app.recorder)))
    to_event = services.app.mapper.to_domain_event
    for notification in log.notifications:
        if notification.topic.endswith("Action.Reported"):
            key = key_of_summary(to_event(notification).facts["summary"])
            if key is not None:
                log.actions.setdefault(key, []).append(Recorded(
                    str(notification.originator_id), notification.originator_version,
                    notification.id))
        elif notification.topic.endswith("IdempotencyKey.Claimed"):
            claim = to_event(notification)
            if claim.principal == PRINCIPAL:
                log.claims[claim.key] = (notification.id, claim.outcomes)
    return log


def assert_positions_unique_and_ascending(log: Log) -> None:
    positions = log.positions
    assert len(set(positions)) == len(positions), "a position is used twice"
    assert positions == sorted(positions), "the log is not in position order"


def assert_positions_contiguous(log: Log) -> None:
    """1..N, no gap: what SQLite gives always (rowid is max + 1, and a rolled-back insert
    leaves no row), and PostgreSQL whenever no insert rolled back (see test_concurrency)."""
    missing = sorted(set(range(1, log.head + 1)) - set(log.positions))
    assert not missing, f"positions missing from the log: {missing[:20]}"
    assert_positions_unique_and_ascending(log)


def assert_each_request_recorded_once(log: Log, answered: dict[str, dict[str, Any]]) -> None:
    """Every acknowledged request's actions are in the log exactly once, where its receipts
    say; and nothing was recorded for a request nobody sent."""
    for key, body in answered.items():
        stored = log.actions.get(key, [])
        assert len(stored) == actions_of(key), (
            f"request {key} recorded {len(stored)} actions, not {actions_of(key)}")
        promised = {Recorded(r["id"], r["version"], r["position"]) for r in receipts(body)}
        assert set(stored) == promised, f"request {key}: the log differs from its receipts"
    strays = set(log.actions) - set(answered)
    assert not strays, f"actions recorded for requests never acknowledged: {sorted(strays)}"
    counts = Counter(r.id for stored in log.actions.values() for r in stored)
    assert not [i for i, n in counts.items() if n > 1], "an action was reported twice"


def assert_commands_whole(log: Log) -> None:
    """A command's events are saved together: each idempotency claim sits with exactly the
    actions it names, at consecutive positions; no action of the load lacks its claim."""
    claimed: set[str] = set()
    for key, stored in log.actions.items():
        claim_key = f"{key}#0" if is_import(key) else key  # imports claim per chunk
        assert claim_key in log.claims, f"request {key}: actions without their claim"
        position, outcomes = log.claims[claim_key]
        assert {(o["uuid"], o["version"]) for o in outcomes} == {
            (r.id, r.version) for r in stored}, f"request {key}: claim and actions differ"
        run = sorted([position, *(r.position for r in stored)])
        assert run == list(range(run[0], run[0] + len(run))), (
            f"request {key}: its events are not one atomic append ({run})")
        claimed.add(claim_key)
    orphans = set(log.claims) - claimed
    assert not orphans, f"claims whose actions are missing: {sorted(orphans)[:10]}"


def assert_read_models_reach(services: Services, head: int, timeout: float = 30) -> None:
    """Every read model's tracking position reaches `head` (a live follower catches up)."""
    deadline = time.monotonic() + timeout
    while min(services.follower.positions().values()) < head:
        assert time.monotonic() < deadline, (
            f"read models stuck at {services.follower.positions()}, head {head}")
        time.sleep(0.05)


def assert_tree_matches_log(services: Services, log: Log) -> None:
    """The ledger read model's Merkle tree is the tree of the stored events, leaf for leaf,
    and every signed checkpoint names a root the log really had at its size."""
    leaves = [event_leaf_hash(n.id, UUID(str(n.originator_id)), n.originator_version,
                              n.topic, n.state) for n in log.notifications]
    assert services.ledger.size() == len(leaves), "the tree and the log differ in size"
    assert services.ledger.root() == root(leaves), "the tree's root differs from the log's"
    for size, _note in services.notary.notes():
        signed = services.notary.at_size(size)
        assert signed is not None and signed.checkpoint.root == root(leaves[:size]), (
            f"the checkpoint at size {size} signs a root the log never had")


def assert_read_models_equal_replay(url: str) -> str:
    """`coopreg replay` rebuilds every read model from position 0 and compares digests
    with the live ones; it exits non-zero when any differs."""
    result = _coopreg(url, "replay")
    assert result.returncode == 0, f"replay found a difference:\n{result.stdout}{result.stderr}"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines and all("equal to the live read model" in line for line in lines), (
        result.stdout)
    return result.stdout


def _coopreg_verify(url: str) -> None:
    """`coopreg verify` passes on the recovered store: events against leaves, the tree
    against every signed checkpoint and the witness, read models against a replay."""
    result = _coopreg(url, "verify")
    assert result.returncode == 0, f"coopreg verify failed:\n{result.stdout}{result.stderr}"


def _coopreg(url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    database = ["--db", url] if url else []
    command = [sys.executable, "-m", "registry", *database, *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
