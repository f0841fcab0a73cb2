"""Per-token rate limits, so one partner cannot starve the others: a token bucket for each
token and each kind of request (reads: GET and HEAD; writes: everything else), refilled
continuously at the budget's rate up to its burst. A request over budget answers 429
problem+json with `Retry-After`; every counted answer carries `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset` (the IETF httpapi draft's names).

Configured by `COOPREG_RATE_LIMIT` (app config, else the environment variable):
`"50/s burst 100"` gives both kinds that budget, `"reads 200/s burst 400, writes 20/min"`
one each (a kind not named keeps its default), `"off"` turns limiting off. The burst
defaults to the count (`"20/min"` is a bucket of 20, refilled over a minute).

The buckets live in this process: under gunicorn each worker keeps its own, so a token's
overall budget is up to (workers) times the budget (see docs/reliability.md)."""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apispec import BasePlugin
from flask import Flask, Response, current_app, g, request

from api import errors
from registry.domain import invalid

KINDS = ("reads", "writes")
READS = frozenset({"GET", "HEAD"})
# Above what bench/http_load.py asks of one token (3 000 reads/s, 1 000 writes/s), so the
# benchmarks measure the registry and not the limiter; deployments set their own.
DEFAULT = "reads 5000/s burst 10000, writes 2000/s burst 4000"
UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0,
         "hour": 3600.0}
BUDGET = re.compile(r"^(?:(?P<kind>reads|writes)\s+)?(?:(?P<off>off)|(?P<count>\d+)\s*/\s*"
                    r"(?P<unit>[a-z]+)(?:\s+burst\s+(?P<burst>\d+))?)$")
PRUNE_ABOVE = 10_000  # buckets kept before full ones (equal to no bucket) are dropped
HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


@dataclass(frozen=True)
class Budget:
    rate: float  # requests per second, refilled continuously
    burst: int  # the most requests at once
    text: str  # as configured, for messages

    @property
    def seconds_to_fill(self) -> float:
        return self.burst / self.rate


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    budget: Budget
    remaining: int
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds until the next request is allowed (0 when allowed)

    def headers(self) -> dict[str, str]:
        return dict(zip(HEADERS, (str(self.budget.burst), str(self.remaining),
                                  str(self.reset)), strict=True))


def parse(text: str) -> dict[str, Budget | None]:
    """The budget of each kind from a setting such as "reads 200/s burst 400, writes 20/s"
    (None: not limited). Kinds the setting does not name keep their defaults."""
    return {**_parse(DEFAULT), **_parse(text)}


def _parse(text: str) -> dict[str, Budget | None]:
    budgets: dict[str, Budget | None] = {}
    for part in (p.strip().lower() for p in text.split(",")):
        found = BUDGET.match(part)
        budget = _budget(found, part.removeprefix(found["kind"] or "").strip()) if found \
            else None
        if not found or (budget is None and not found["off"]):
            raise invalid("COOPREG_RATE_LIMIT", "config.rate-limit",
                          f"{part!r} is not a budget: write e.g. '50/s burst 100', "
                          "'reads 200/s, writes 20/min burst 5', 'writes off' or 'off'")
        for kind in [found["kind"]] if found["kind"] else KINDS:
            budgets[kind] = budget
    return budgets


def _budget(found: re.Match[str], text: str) -> Budget | None:
    """The budget a matched part names (None for "off" or a count, unit or burst that
    cannot be one)."""
    if found["off"] or found["unit"] not in UNITS:
        return None
    count = int(found["count"])
    burst = int(found["burst"] or count)
    return Budget(count / UNITS[found["unit"]], burst, text) if count and burst else None


class RateLimiter:
    """Token buckets by (token id, kind), safe to share between a worker's threads."""

    def __init__(self, budgets: Mapping[str, Budget | None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budgets = dict(budgets)
        self.clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # tokens, when
        self._lock = threading.Lock()

    def take(self, who: str, kind: str) -> Verdict | None:
        """Spend one request of `who`'s budget of `kind`; None when that kind is not
        limited."""
        budget = self.budgets.get(kind)
        if budget is None:
            return None
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get((who, kind), (float(budget.burst), now))
            tokens = min(float(budget.burst), tokens + (now - then) * budget.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            if len(self._buckets) > PRUNE_ABOVE:
                self._prune(now)
            self._buckets[(who, kind)] = (tokens, now)
        wait = 0 if allowed else max(1, math.ceil((1.0 - tokens) / budget.rate))
        reset = math.ceil((budget.burst - tokens) / budget.rate)
        return Verdict(allowed, budget, int(tokens), reset, wait)

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled: a full bucket is the same as none."""
        for key, (tokens, then) in list(self._buckets.items()):
            budget = self.budgets[key[1]]
            if budget is None or tokens + (now - then) * budget.rate >= budget.burst:
                del self._buckets[key]


def configured(config: Mapping[str, Any]) -> RateLimiter:
    """The limiter an app's config asks for (else COOPREG_RATE_LIMIT, else the default);
    a setting that is not a budget raises, naming it."""
    return RateLimiter(parse(config.get("COOPREG_RATE_LIMIT")
                             or os.environ.get("COOPREG_RATE_LIMIT") or DEFAULT))


def install(app: Flask, limiter: RateLimiter) -> None:
    """Limit every authenticated request of `app` (to be called after authentication is
    installed, so the principal is known)."""
    app.extensions["coopreg_rate_limiter"] = limiter
    app.before_request(_spend)
    app.after_request(_announce)


def _spend() -> Response | None:
    who = g.get("principal")
    if who is None:  # anonymous reads of public paths, and requests refused with 401
        return None
    kind = "reads" if request.method in READS else "writes"
    limiter: RateLimiter = current_app.extensions["coopreg_rate_limiter"]
    verdict = g.rate_verdict = limiter.take(who.token_id, kind)
    if verdict is None or verdict.allowed:
        return None
    return errors.problem(
        429, "rate-limited", "Too many requests",
        f"token {who.token_id} has used its budget of {kind} ({verdict.budget.text}); "
        f"retry in {verdict.retry_after} s", {"Retry-After": str(verdict.retry_after)})


def _announce(response: Response) -> Response:
    verdict: Verdict | None = g.get("rate_verdict")
    if verdict is not None:
        response.headers.update(verdict.headers())
    return response


HEADER_DOCS: dict[str, Any] = {
    "Retry-After": {"description": "seconds until the token may send this kind of request "
                                   "again", "schema": {"type": "integer", "minimum": 1}},
    "RateLimit-Limit": {"description": "the token's burst: most requests of this kind at "
                                       "once", "schema": {"type": "integer", "minimum": 1}},
    "RateLimit-Remaining": {"description": "requests of this kind the token may still send "
                                           "now", "schema": {"type": "integer", "minimum": 0}},
    "RateLimit-Reset": {"description": "seconds until the token's budget is whole again",
                        "schema": {"type": "integer", "minimum": 0}},
}


class RateLimitDocs(BasePlugin):  # type: ignore[misc]
    """Documents 429 (with its headers) on every operation that needs a token."""

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        for operation in (operations or {}).values():
            if isinstance(operation, dict) and operation.get("security") != []:
                operation.setdefault("responses", {})[429] = "TOO_MANY_REQUESTS"
