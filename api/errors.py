"""RFC 9457 problem details for every error: a stable `type`, the `status`, a `title`, a
human `detail`, and for validation the list of fields with the rule each broke (plugin
findings included). Never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import PersistenceError
from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from registry.domain import Conflict, IdempotencyMismatch, NotFound, RegistryError
from registry.domain.errors import ValidationFailed
from registry.plugins import PluginError
from registry.rules import RuleViolation
from registry.schemas import _flatten

PROBLEM = "application/problem+json"
TYPES = "https://coopreg.example/problems/"
log = logging.getLogger("coopreg.api")


class PreconditionFailed(RegistryError):
    """If-Match named a version the aggregate has moved past (412)."""


class PreconditionRequired(RegistryError):
    """An update needs If-Match with the version it was based on (428)."""


class Forbidden(RegistryError):
    """The principal may not do this (403)."""


class NotReady(RegistryError):
    """The read models have not caught up yet (503 with Retry-After)."""


def problem(status: int, kind: str, title: str, detail: str,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"type": TYPES + kind, "title": title, "status": status, "detail": detail, **extra}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def http_problem(error: HTTPException) -> Response:
    """Werkzeug's and flask-smorest's HTTP errors, webargs' validation included."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or (getattr(error, "exc", None) and getattr(
        error.exc, "messages", None))
    if status == 422 and messages:
        errors = [p.as_dict() for location in messages.values()
                  for p in _flatten(location, "")]
        return problem(422, "validation-failed", "Validation failed",
                       "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                       errors=errors)
    if status == 400 and messages:
        errors = [p.as_dict() for location in messages.values()
                  for p in _flatten(location, "")]
        return problem(400, "malformed-request", "Malformed request",
                       "; ".join(e["message"] for e in errors), errors=errors)
    if status == 413:
        limit = request.max_content_length
        detail = f"the body is larger than the {limit} bytes this endpoint accepts"
        return problem(413, "request-entity-too-large", "Request entity too large", detail,
                       errors=[{"field": "body", "rule": "body.size", "message": detail}])
    kind = (error.name or "error").lower().replace(" ", "-")
    headers = {"Allow": ", ".join(error.valid_methods)} if getattr(
        error, "valid_methods", None) else None
    return problem(status, kind, error.name or "Error",
                   error.description or error.name or "", headers)


def registry_problem(error: RegistryError) -> Response:
    if isinstance(error, ValidationFailed):
        extra: dict[str, Any] = {"errors": [p.as_dict() for p in error.problems]}
        if isinstance(error, RuleViolation):
            extra["findings"] = [f.as_dict() for f in error.findings]
        kind = "rule-violation" if isinstance(error, RuleViolation) else "validation-failed"
        return problem(422, kind, "The command breaks a rule" if isinstance(
            error, RuleViolation) else "Validation failed", str(error), **extra)
    for cls, status, kind, title in (
        (NotFound, 404, "not-found", "Not found"),
        (Conflict, 409, "conflict", "Conflict"),
        (IdempotencyMismatch, 409, "idempotency-key-reused", "Idempotency key reused"),
        (PreconditionFailed, 412, "precondition-failed", "Precondition failed"),
        (PreconditionRequired, 428, "precondition-required", "Precondition required"),
        (Forbidden, 403, "forbidden", "Forbidden"),
    ):
        if isinstance(error, cls):
            return problem(status, kind, title, str(error))
    if isinstance(error, NotReady):
        return problem(503, "not-ready", "Not ready", str(error), {"Retry-After": "1"})
    if isinstance(error, PluginError):
        log.error("plugin error: %s", error)
        return problem(500, "plugin-error", "A plugin failed", str(error),
                       plugin=error.plugin, hook=error.hook)
    return problem(400, error.kind, "Bad request", str(error))


def unreadable_body(detail: str, rule: str) -> Response:
    return problem(400, "malformed-request", "Malformed request", detail,
                   errors=[{"field": "body", "rule": rule, "message": detail}])


def _raised_by_json(error: BaseException) -> bool:
    """Whether the innermost frame of the error is the json decoder's."""
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    return trace is not None and trace.tb_frame.f_globals.get("__name__") == "json.decoder"


def register(app: Flask) -> None:
    app.register_error_handler(RegistryError, registry_problem)

    @app.errorhandler(PersistenceError)
    def database_unavailable(error: PersistenceError) -> Response:
        log.error("database error: %s", error)
        return problem(503, "database-unavailable", "Database unavailable",
                       "the registry's database did not answer; retry shortly",
                       {"Retry-After": "2"})

    @app.errorhandler(RecursionError)
    def too_deep(error: RecursionError) -> Response:
        return unreadable_body("the JSON body is nested too deeply to read", "json.depth")

    @app.errorhandler(ValueError)
    def unreadable(error: ValueError) -> Response:
        # json.loads refuses an integer of more than 4300 digits (CVE-2020-10735) with a
        # plain ValueError, not the JSONDecodeError webargs answers as invalid JSON
        if _raised_by_json(error):
            return unreadable_body(f"the JSON body cannot be read: "
                                   f"{str(error).partition(';')[0]}", "json.number")
        return unexpected(error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return http_problem(error)
        log.exception("unexpected error")
        return problem(500, "internal-error", "Internal error",
                       "the registry failed to answer; the failure was logged")
