"""Group commit: writers of one process that are ready while a commit is under way share
the next one.

A write is durable only once its transaction commits, and a commit costs an fsync (SQLite)
or a round trip and a WAL flush (PostgreSQL) whatever it holds. So each writer checks its
submission in its own thread (`Registry.prepare`, nothing stored) and queues it; the first
to find no commit under way leads: it saves everything queued in one transaction
(`Registry.record_prepared`) and hands every waiting writer its own answer. A lone writer
leads at once, so nothing waits for company, and the next group is checked while the
current one commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from threading import Condition

from registry.application import Answer, Prepared, Registry
from registry.commands import Command, Receipt, Submission

MAX_GROUP = 64  # submissions per commit: bounds how long the last of a group waits


@dataclass
class _Waiting:
    prepared: Prepared
    answer: Answer | None = None


class GroupCommit:
    """`execute` as `Registry.execute_batch`, sharing commits with concurrent callers."""

    def __init__(self, app: Registry, max_group: int = MAX_GROUP) -> None:
        self.app = app
        self.max_group = max_group
        self._changed = Condition()
        self._queue: list[_Waiting] = []
        self._leading = False

    def execute(self, commands: Sequence[Command], *, by: str,
                idempotency_key: str | None = None) -> list[Receipt]:
        ready = self.app.prepare(Submission(tuple(commands), by, idempotency_key))
        if isinstance(ready, list):
            return ready  # a retry: the first receipts
        mine = _Waiting(ready)
        with self._changed:
            self._queue.append(mine)
            while self._leading and mine.answer is None:
                self._changed.wait()
            group: list[_Waiting] = []
            if mine.answer is None:  # no commit under way: lead the next one, with the
                self._leading = True  # longest waiting
                self._queue.remove(mine)
                group = [mine, *self._queue[:self.max_group - 1]]
                del self._queue[:self.max_group - 1]
        if group:
            self._lead(group)
        return _unwrap(mine.answer)

    def _lead(self, group: list[_Waiting]) -> None:
        interrupted = RuntimeError("the commit of this write's group was interrupted")
        answers: Sequence[Answer] = [interrupted] * len(group)
        try:
            answers = self.app.record_prepared([w.prepared for w in group])
        except Exception as error:  # the store failed the whole group: all hear of it
            answers = [error] * len(group)
        finally:  # answers and the lead change together, so no waiter misses its answer
            with self._changed:
                for waiting, answer in zip(group, answers, strict=True):
                    waiting.answer = answer
                self._leading = False
                self._changed.notify_all()


def _unwrap(answer: Answer | None) -> list[Receipt]:
    if isinstance(answer, Exception):
        raise answer
    assert answer is not None
    return answer
