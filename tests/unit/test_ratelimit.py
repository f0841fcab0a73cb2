"""The token buckets behind per-token rate limits, on a clock the tests move by hand."""

from __future__ import annotations

import threading

import pytest

from api.ratelimit import DEFAULT, RateLimiter, parse
from registry.domain import ValidationFailed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(setting: str) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(parse(setting), clock), clock


DEFAULT_READS = (5000.0, 10000)


@pytest.mark.parametrize(("setting", "reads", "writes"), [
    ("50/s burst 100", (50.0, 100), (50.0, 100)),
    ("reads 200/s burst 400, writes 20/min", (200.0, 400), (20 / 60, 20)),
    ("writes 10/s", DEFAULT_READS, (10.0, 10)),
    ("3/hour burst 1", (3 / 3600, 1), (3 / 3600, 1)),
    ("Writes 5/S Burst 7", DEFAULT_READS, (5.0, 7)),
])
def test_a_setting_names_a_rate_and_burst_per_kind(setting, reads, writes):
    budgets = parse(setting)
    for kind, expected in (("reads", reads), ("writes", writes)):
        budget = budgets[kind]
        assert budget is not None
        assert (budget.rate, budget.burst) == pytest.approx(expected)


def test_off_turns_one_kind_or_both_off():
    assert parse("off") == {"reads": None, "writes": None}
    budgets = parse("writes off")
    assert budgets["writes"] is None and budgets["reads"] == parse(DEFAULT)["reads"]


@pytest.mark.parametrize("setting", ["fast", "0/s", "10/day", "5/s burst 0",
                                     "reads 10/s burst x", "everyone 5/s", ""])
def test_a_setting_that_is_not_a_budget_names_the_setting(setting):
    with pytest.raises(ValidationFailed) as refused:
        parse(setting)
    [problem] = refused.value.problems
    assert (problem.field, problem.rule) == ("COOPREG_RATE_LIMIT", "config.rate-limit")


def test_a_burst_is_allowed_at_once_then_the_next_waits_for_a_refill():
    rates, clock = limiter("2/s burst 3")
    verdicts = [rates.take("token-a", "writes") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0]
    refused = verdicts[-1]
    assert refused.retry_after == 1 and refused.reset == 2  # 3 requests at 2/s: 1.5 s
    clock.now += 0.5  # one request's worth
    assert rates.take("token-a", "writes").allowed
    assert not rates.take("token-a", "writes").allowed


def test_a_bucket_refills_up_to_its_burst_and_no_further():
    rates, clock = limiter("10/s burst 5")
    for _ in range(5):
        assert rates.take("token-a", "reads").allowed
    clock.now += 3600
    allowed = [rates.take("token-a", "reads").allowed for _ in range(7)]
    assert allowed == [True] * 5 + [False] * 2


def test_each_token_and_each_kind_has_its_own_bucket():
    rates, _ = limiter("1/min burst 1")
    assert rates.take("token-a", "writes").allowed
    assert not rates.take("token-a", "writes").allowed
    assert rates.take("token-a", "reads").allowed  # reads are another budget
    assert rates.take("token-b", "writes").allowed  # and another token another bucket


def test_a_kind_that_is_off_is_not_counted():
    rates, _ = limiter("writes off, reads 1/min")
    assert all(rates.take("token-a", "writes") is None for _ in range(100))


def test_threads_sharing_a_bucket_get_exactly_the_burst():
    rates, _ = limiter("1/hour burst 40")  # the clock stands still: no refill
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(50):
            verdict = rates.take("token-a", "reads")
            with lock:
                allowed.append(verdict.allowed)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (allowed.count(True), len(allowed)) == (40, 400)


def test_refilled_buckets_are_forgotten_when_there_are_many(monkeypatch):
    monkeypatch.setattr("api.ratelimit.PRUNE_ABOVE", 10)
    rates, clock = limiter("1/s burst 1")
    for n in range(11):
        rates.take(f"token-{n}", "reads")
    clock.now += 5  # every bucket is full again
    rates.take("token-late", "reads")
    assert len(rates._buckets) == 1
