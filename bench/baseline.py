"""The raw eventsourcing baseline both benchmarks measure against: an aggregate with the
same event payload as `registry.domain.Action`, saved by a plain Application."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class RawAction(Aggregate):
    """The equivalent aggregate: the same event payload as `registry.domain.Action`."""

    @event("Reported")
    def __init__(self, facts: dict[str, Any], recorded_by: str,
                 evaluation: dict[str, Any]) -> None:
        self.facts = facts


class RawApp(Application[UUID]):
    name = "RawBaseline"
