"""The HTTP API: a thin adapter over the registry application and its read models."""

from __future__ import annotations

import hashlib
import http
import logging
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from eventsourcing.persistence import OperationalError
from flask import Flask, Response, current_app, g, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from api import errors, metrics, ratelimit
from api.auth import TokenStore
from api.context import Context, ctx, release_snapshot
from api.schemas import ProblemSchema
from api.worker import ProjectionWorker
from registry.bootstrap import open_registry
from registry.domain import Problem, ValidationFailed
from registry.group_commit import GroupCommit
from registry.plugins import Selection
from registry.schemas import not_text

PUBLIC = {"/healthz", "/openapi.json", "/docs", "/v1/log/public-key"}
NDJSON = "application/x-ndjson"
IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}\Z")  # an sf-string, bounded

DEFAULTS: dict[str, Any] = {
    "COOPREG_DB": None,  # default: COOPREG_DB or sqlite:///registry.db
    "COOPREG_PLUGINS": None,  # a Selection; default from the environment
    "COOPREG_FOLLOW": True,  # run the projection worker in this process
    "COOPREG_CHECKPOINT_EVERY": 1.0,  # seconds between signed checkpoints of a growing log
    "MAX_CONTENT_LENGTH": 1 << 20,  # 1 MiB for commands
    "COOPREG_MAX_IMPORT_BYTES": 32 << 20,
    "COOPREG_RATE_LIMIT": None,  # per token, e.g. "50/s burst 100"; default: the env var
    "API_TITLE": "Cooperation Registry",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
    "API_SPEC_OPTIONS": {
        "info": {"description": "The shared, append-only record of what partner "
                                "organizations agree and do together. Every error is "
                                "application/problem+json (RFC 9457)."},
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    },
}


class RegistryApi(Api):
    """flask-smorest, answering and documenting errors as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app: Flask) -> None:
        super().__init__(app, spec_kwargs={"extra_plugins": [ratelimit.RateLimitDocs()]})

    def handle_http_exception(self, error: Any) -> Response:
        return errors.http_problem(error)

    def _register_responses(self) -> None:
        """Every error response, documented as the problem+json the API sends."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            if status == 429:
                response["headers"] = ratelimit.HEADER_DOCS
            prepare_response(response, self.spec, errors.PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error (RFC 9457 problem details)",
                    "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask("coopreg")
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    limiter = ratelimit.configured(app.config)  # a bad setting fails before anything opens
    services = open_registry(app.config["COOPREG_DB"],
                             plugins=app.config["COOPREG_PLUGINS"] or Selection.from_env())
    worker = ProjectionWorker(services.follower, services.database,
                              checkpoint=services.notary.sign_head,
                              checkpoint_every=app.config["COOPREG_CHECKPOINT_EVERY"])
    app.extensions["coopreg"] = Context(services, TokenStore(services.queries.sql), worker,
                                        GroupCommit(services.app))
    if app.config["COOPREG_FOLLOW"]:
        _catch_up_at_boot(services)
        worker.start()
    api = RegistryApi(app)
    from api.resources import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    errors.register(app)
    metrics.install(app, services)
    app.before_request(_authenticate)
    ratelimit.install(app, limiter)  # after authentication: budgets are per token
    app.before_request(_check_text)
    app.before_request(_check_body)
    app.after_request(_etag)
    app.teardown_request(release_snapshot)
    logging.getLogger("coopreg").setLevel(logging.INFO)
    return app


def _catch_up_at_boot(services: Any) -> None:
    """Serve fresh reads from the first request if the store allows; a busy store (another
    worker booting) leaves it to the worker thread rather than failing the boot."""
    try:
        services.follower.catch_up()
    except OperationalError as error:
        logging.getLogger("coopreg.worker").warning("catch-up at boot deferred: %s", error)


def _authenticate() -> Response | None:
    if request.path in PUBLIC or request.path.startswith("/docs") or request.method == "OPTIONS":
        return None  # OPTIONS: a CORS preflight carries no credentials and reveals nothing
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    who = None
    if scheme.lower() == "bearer" and token:
        who = ctx().tokens.authenticate(token.strip())
    if who is None:
        detail = ("send Authorization: Bearer <token>" if not header
                  else "the token is unknown, malformed or revoked")
        return errors.problem(401, "unauthorized", "Unauthorized", detail,
                              {"WWW-Authenticate": 'Bearer realm="coopreg"'})
    g.principal = who
    return None


def _check_text() -> None:
    """Query strings, path segments and the Idempotency-Key reach SQL and the event store
    as text: refuse control characters there as command bodies do (a NUL in a filter made
    PostgreSQL fail, which answered 503), and bound the key."""
    problems = _not_utf8()
    problems += [p for name, values in request.args.lists()
                for p in [*not_text(name, name), *(q for v in values for q in not_text(v, name))]]
    problems += [p for name, value in (request.view_args or {}).items()
                 for p in not_text(value, name)]
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        problems.append(Problem("Idempotency-Key", "header.idempotency-key",
                                "an Idempotency-Key is 1 to 255 visible ASCII characters"))
    if problems:
        raise ValidationFailed(problems)


def _not_utf8() -> list[Problem]:
    """Werkzeug reads a path or query that is not UTF-8 once percent-decoded with U+FFFD
    in place of the bad bytes; say so instead of answering for a different text."""
    problems = []
    try:
        unquote_to_bytes(request.query_string).decode("utf-8")
    except UnicodeDecodeError:
        problems.append(Problem("query", "query.utf-8", "the query string is not UTF-8"))
    try:  # WSGI hands the path over percent-decoded, as bytes decoded as Latin-1
        request.environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        problems.append(Problem("path", "path.utf-8", "the path is not UTF-8"))
    return problems


def _check_body() -> Response | None:
    if request.method not in ("POST", "PUT", "PATCH") or request.routing_exception:
        return None  # a wrong method or path answers 405/404 first
    wanted = NDJSON if request.path == "/v1/imports" else "application/json"
    if request.path == "/v1/imports":
        request.max_content_length = current_app.config["COOPREG_MAX_IMPORT_BYTES"]
    if request.mimetype != wanted:
        return errors.problem(415, "unsupported-media-type", "Unsupported media type",
                              f"send the body as {wanted}, not {request.mimetype or 'nothing'}")
    return None


def _etag(response: Response) -> Response:
    """Projection reads carry an ETag; a matching If-None-Match answers 304."""
    if request.method != "GET" or response.status_code != 200 or response.direct_passthrough:
        return response
    if not response.headers.get("ETag"):
        response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    return response.make_conditional(request)
