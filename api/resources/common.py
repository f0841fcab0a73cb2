"""Helpers the resources share: pages with a `next` link, and resource ETags.

Read models already hold rows in the documented shape, so the hot reads answer their JSON
directly instead of passing each row through marshmallow again (about half the time of a
list read); the response schemas still document them, and schemathesis checks the match."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request, url_for

from registry.domain import NotFound
from registry.projections import Page


def as_json(data: Any, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(data, separators=(",", ":")), mimetype="application/json")
    response.headers.update(headers or {})
    return response


def page(result: Page, endpoint: str, **values: Any) -> Response:
    """A page of items with a `next` URL (and a Link header) when there is more."""
    headers = {}
    next_url = None
    if result.next_cursor:
        args = {**request.args.to_dict(), **values, "cursor": result.next_cursor}
        next_url = url_for(endpoint, **args, _external=False)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return as_json({"items": result.items, "next": next_url}, headers)


def versioned(resource: dict[str, Any] | None, what: str) -> Response:
    """A single aggregate's read model, whose ETag is its version (usable in If-Match)."""
    if resource is None:
        raise NotFound(f"no {what}")
    return as_json(resource, {"ETag": f'"{resource["version"]}"'})
