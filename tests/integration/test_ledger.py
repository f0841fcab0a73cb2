"""The transparency log as a read model, on every store: its root is the root of the
events' leaves recomputed from an export, its proofs verify, and it survives a crash."""

import io
import json
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from registry.io import export_events
from registry.ledger.leaves import event_leaf_hash
from registry.ledger.merkle import EMPTY_ROOT, root, verify_consistency, verify_inclusion
from registry.projections import Ledger
from tests.conftest import action, agreement, run


@pytest.fixture
def logged(partners):
    run(partners, agreement())
    for day in ("2014-06-12", "2015-01-02", "2016-03-04"):
        run(partners, action(occurred_on=day), by="partner:ohchr", key=day)
    partners.follower.catch_up()
    return partners


def leaves_from_export(services) -> list[bytes]:
    """What an auditor computes from an export alone, by the documented encoding."""
    out = io.StringIO()
    export_events(services.app.recorder, out)
    records = [json.loads(line) for line in out.getvalue().splitlines()[1:]]
    return [event_leaf_hash(r["position"], UUID(r["originator_id"]), r["originator_version"],
                            r["topic"], r["state"].encode("utf-8")) for r in records]


def test_the_log_holds_every_event_and_its_root_is_recomputable(logged):
    ledger = Ledger(logged.queries.sql)
    leaves = leaves_from_export(logged)
    assert ledger.size() == logged.app.event_table.count() == len(leaves)
    assert ledger.root() == root(leaves)
    assert ledger.root(0) == EMPTY_ROOT


def test_every_inclusion_and_consistency_proof_from_the_store_verifies(logged):
    ledger = Ledger(logged.queries.sql)
    size = ledger.size()
    for position in range(1, logged.app.recorder.max_notification_id() + 1):
        found = ledger.leaf(position)
        assert found is not None
        index, leaf = found
        assert verify_inclusion(index, size, leaf, ledger.inclusion(index, size), ledger.root())
    for first in range(1, size + 1):
        proof = ledger.consistency(first, size)
        assert verify_consistency(first, size, ledger.root(first), ledger.root(), proof)


def test_the_log_resumes_after_a_crash_mid_way(logged):
    ledger = Ledger(logged.queries.sql)
    live = ledger.root()
    for projection in logged.projections:
        projection.reset()
    logged.follower.batch_size = 3
    logged.follower.catch_up(until=5)  # stop part way, as a crash would
    assert ledger.size() == 5
    logged.follower.catch_up()
    assert ledger.root() == live


def test_a_new_event_extends_the_log_consistently(logged):
    ledger = Ledger(logged.queries.sql)
    before_size, before_root = ledger.size(), ledger.root()
    run(logged, action(occurred_on="2017-05-06"), by="partner:ohchr")
    logged.follower.catch_up()
    assert ledger.size() == before_size + 1
    proof = ledger.consistency(before_size, ledger.size())
    assert verify_consistency(before_size, ledger.size(), before_root, ledger.root(), proof)


def test_a_batch_that_conflicts_with_the_log_itself_fails_instead_of_retrying_forever(logged):
    """A leaf row that no projection wrote (a tampered store) makes the next batch refuse;
    the follower re-reads positions, sees nobody else moved on, and raises."""
    ledger_sql = logged.queries.sql
    next_position = logged.app.recorder.max_notification_id() + 1
    with ledger_sql.transaction() as cursor:
        ledger_sql.execute(cursor, f"INSERT INTO {ledger_sql.table('ledger_leaves')} "
                           "VALUES (?, ?, ?)", (next_position, 999, "00" * 32))
    run(logged, action(occurred_on="2017-05-06"), by="partner:ohchr", key="late")
    with pytest.raises(IntegrityError):
        logged.follower.catch_up()
