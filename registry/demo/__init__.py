"""The demo scenario drawn from the seed documents (see scenario.json's "about")."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from registry.application import Registry
from registry.commands import Receipt
from registry.schemas import load_command


def scenario() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("scenario.json").read_text("utf-8"))


def load_demo(app: Registry, progress: Callable[[int], None] | None = None,
              catch_up: Callable[[], Any] | None = None) -> list[Receipt]:
    """Record every command of the scenario, one at a time as partners would, letting the
    read models catch up in between (`catch_up`) so rules see earlier actions. Each
    carries an idempotency key: loading the demo twice records nothing the second time."""
    receipts = []
    for index, item in enumerate(scenario()["commands"]):
        payload = dict(item)
        by = payload.pop("by")
        receipts.append(app.execute(load_command(payload), by=by,
                                    idempotency_key=f"demo-{index}"))
        if catch_up:
            catch_up()
        if progress:
            progress(1)
    return receipts
