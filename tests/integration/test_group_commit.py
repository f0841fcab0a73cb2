"""Group commit: submissions that arrive together share one commit, and each is answered
exactly as it would have been alone."""

from __future__ import annotations

import threading
import time
from uuid import UUID

import pytest

from registry.commands import Submission
from registry.domain import Conflict, ValidationFailed
from registry.group_commit import GroupCommit
from registry.schemas import load_command
from tests.conftest import action, run

OHCHR = "partner:ohchr"


def report(**overrides: object) -> Submission:
    return Submission((load_command(action(**overrides)),), OHCHR)


def amend(action_id: str, summary: str, key: str | None = None) -> Submission:
    return Submission((load_command({
        "command": "amend_action", "action_id": action_id, "changes": {"summary": summary},
        "reason": "clarity", "expected_version": 1}),), OHCHR, key)


def count_saves(app, monkeypatch) -> list[int]:
    saves: list[int] = []
    save = app.save

    def counted(*aggregates, **kwargs):
        saves.append(len(aggregates))
        return save(*aggregates, **kwargs)

    monkeypatch.setattr(app, "save", counted)
    return saves


def test_independent_submissions_share_one_commit(partners, monkeypatch):
    saves = count_saves(partners.app, monkeypatch)
    answers = partners.app.execute_each([report(), report(countries=["GE"]), report()])
    assert saves == [3]
    positions = [receipts[0].position for receipts in answers]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert partners.app.recorder.max_notification_id() == positions[-1]


def test_a_refused_submission_is_answered_alone_and_the_others_are_recorded(partners):
    before = partners.app.recorder.max_notification_id()
    good, bad, also_good = partners.app.execute_each(
        [report(), report(countries=["QQ"]), report(countries=["GE"])])
    assert isinstance(bad, ValidationFailed)
    assert bad.problems[0].field == "countries[0]"
    assert partners.app.recorder.max_notification_id() == before + 2
    for answer in (good, also_good):
        assert partners.app.action(UUID(answer[0].aggregate_id)).version == 1


def test_two_amendments_of_one_version_in_one_group_one_wins(partners):
    """Each was checked against version 1, so their events collide on version 2: the
    group's save fails whole, and each is then recorded alone, as it would have been."""
    reported = run(partners, action(), by=OHCHR)
    first, second = partners.app.execute_each(
        [amend(reported.aggregate_id, "mine"), amend(reported.aggregate_id, "theirs")])
    assert first[0].version == 2
    assert isinstance(second, Conflict)
    assert partners.app.action(UUID(reported.aggregate_id)).facts.summary == "mine"


def test_one_idempotency_key_twice_in_a_group_records_once(partners):
    reported = run(partners, action(), by=OHCHR)
    before = partners.app.recorder.max_notification_id()
    first, retry = partners.app.execute_each([amend(reported.aggregate_id, "once", "k-1"),
                                             amend(reported.aggregate_id, "once", "k-1")])
    assert first == retry
    recorded = partners.app.recorder.select_notifications(before + 1, 10)
    assert len(recorded) == 2  # the amendment and the key (PostgreSQL's ids may skip some)


def test_concurrent_writers_share_commits_and_each_gets_its_own_receipt(partners,
                                                                       monkeypatch):
    writes = GroupCommit(partners.app)
    saves = count_saves(partners.app, monkeypatch)
    first_save = partners.app.save

    def slow_save(*aggregates, **kwargs):  # a commit long enough for the others to queue
        time.sleep(0.2)
        return first_save(*aggregates, **kwargs)

    monkeypatch.setattr(partners.app, "save", slow_save)
    receipts: dict[int, object] = {}
    start = threading.Barrier(10)

    def write(n: int) -> None:
        start.wait()
        if n:
            time.sleep(0.05)  # writer 0 leads; the others arrive during its commit
        receipts[n] = writes.execute([load_command(action(summary=f"action {n}"))], by=OHCHR)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(9)]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join(10)
    assert sorted(receipts) == list(range(9))
    assert saves == [1, 8]
    for n, (receipt,) in receipts.items():
        assert partners.app.action(UUID(receipt.aggregate_id)).facts.summary == f"action {n}"


def test_a_store_failure_is_answered_to_the_whole_group_and_the_next_group_proceeds(
        partners, monkeypatch):
    writes = GroupCommit(partners.app)
    save = partners.app.save

    def failing(*aggregates, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(partners.app, "save", failing)
    with pytest.raises(OSError, match="disk full"):
        writes.execute([load_command(action())], by=OHCHR)
    monkeypatch.setattr(partners.app, "save", save)
    (receipt,) = writes.execute([load_command(action())], by=OHCHR)
    assert receipt.version == 1
