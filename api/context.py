"""What every resource needs from the request: the registry, the principal and the
checks on them. Resources stay thin: parse, authorize, call the application, answer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Response, current_app, g, request

from api.auth import Principal, TokenStore
from api.errors import Forbidden, NotReady, PreconditionFailed, PreconditionRequired
from api.worker import ProjectionWorker
from registry.bootstrap import Services
from registry.commands import Command, Receipt
from registry.domain import Conflict, invalid
from registry.group_commit import GroupCommit

READ_WAIT_SECONDS = 2.0
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Context:
    services: Services
    tokens: TokenStore
    worker: ProjectionWorker
    writes: GroupCommit  # requests writing at once share a commit


def ctx() -> Context:
    return current_app.extensions["coopreg"]


def principal() -> Principal:
    return g.principal


def allow(*roles: str) -> Callable[[F], F]:
    """Check the role before anything else (body parsing, If-Match), so a principal who
    may not write learns that first. Goes above flask-smorest's decorators."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            require(*roles)
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


def require(*roles: str) -> Principal:
    who = principal()
    if who.role not in roles:
        raise Forbidden(f"{who.role} tokens may not do this (allowed: {', '.join(roles)})")
    return who


def require_partner(partner: str, what: str) -> Principal:
    who = require("partner")
    if who.partner != partner:
        raise Forbidden(f"{who.partner} may not {what} for {partner}")
    return who


def execute(command: Command) -> Receipt:
    context = ctx()
    [receipt] = context.writes.execute(
        [command], by=principal().name, idempotency_key=request.headers.get("Idempotency-Key"))
    context.worker.nudge()
    return receipt


def execute_update(command: Command) -> Receipt:
    """An update based on an If-Match version: a stale version answers 412."""
    try:
        return execute(command)
    except Conflict as error:
        raise PreconditionFailed(str(error)) from None


def expected_version() -> int:
    """The version an update is based on, from If-Match (an ETag of the resource)."""
    header = request.headers.get("If-Match")
    if not header:
        raise PreconditionRequired("send If-Match with the version you read (the ETag of "
                                   "the resource), so a concurrent change is not lost")
    text = header.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise invalid("If-Match", "header.if-match",
                      f'If-Match must be a version number such as "3", not {header!r}')
    return int(text)


def read_args(args: dict[str, Any]) -> int | None:
    """Wait for `min_position` (read-your-writes); answer the position to query `as_of`
    (a recorded time resolved by the registry's clock; None for now) and note the position
    the answer shows, for the As-Of-Position header."""
    wanted = args.get("min_position")
    if wanted is not None:
        head = ctx().services.app.recorder.max_notification_id() or 0
        if wanted > head:
            raise invalid("min_position", "query.min-position",
                          f"position {wanted} has not been recorded (last is {head})")
        if not ctx().worker.wait_for(wanted, READ_WAIT_SECONDS):
            raise NotReady(f"the read models have not reached position {wanted} yet")
    queries = ctx().services.queries
    hold_snapshot()
    position = queries.resolve(args.get("as_of"))
    g.as_of_position = queries.answered_as_of(position)
    return position


def hold_snapshot() -> None:
    """The rest of this request reads one view of the store (`Sql.snapshot`): the rows
    answered are those of the position the As-Of-Position header names, even if the read
    models advance meanwhile. Released when the request ends (`release_snapshot`)."""
    if "snapshot" not in g:
        stack = ExitStack()
        stack.enter_context(ctx().services.queries.sql.snapshot())
        g.snapshot = stack


def release_snapshot(_error: BaseException | None = None) -> None:
    stack = g.pop("snapshot", None)
    if stack is not None:
        stack.close()


def state_as_of(response: Response) -> Response:
    """After a projection read: say which position the answer shows the registry as of."""
    position = g.get("as_of_position")
    if position is not None and response.status_code in (200, 304):
        response.headers["As-Of-Position"] = str(position)
    return response
