"""Helpers the resources share: pages with a `next` link, and resource ETags."""

from __future__ import annotations

from typing import Any

from flask import request, url_for

from registry.domain import NotFound
from registry.projections import Page


def page(result: Page, endpoint: str, **values: Any) -> tuple[dict[str, Any], int, dict]:
    """A page of items with a `next` URL (and a Link header) when there is more."""
    headers = {}
    next_url = None
    if result.next_cursor:
        args = {**request.args.to_dict(), **values, "cursor": result.next_cursor}
        next_url = url_for(endpoint, **args, _external=False)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return {"items": result.items, "next": next_url}, 200, headers


def versioned(resource: dict[str, Any] | None, what: str) -> tuple[dict[str, Any], int, dict]:
    """A single aggregate's read model, whose ETag is its version (usable in If-Match)."""
    if resource is None:
        raise NotFound(f"no {what}")
    return resource, 200, {"ETag": f'"{resource["version"]}"'}
