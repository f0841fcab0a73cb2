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


# The registry's persistence modules that are not eventsourcing's own, and the library's
# module each stands for.
LIBRARY_MODULES = {"registry.sqlite_store:Factory": "eventsourcing.sqlite"}


class RawApp(Application[UUID]):
    """Saves through eventsourcing's own persistence module, with the registry's store
    settings otherwise (file, lock timeout; server, schema): the statement cache of the
    registry's SQLite connections is part of what the registry is measured for."""

    name = "RawBaseline"

    def __init__(self, env: dict[str, str]) -> None:
        module = env.get("PERSISTENCE_MODULE", "")
        super().__init__({**env, "PERSISTENCE_MODULE": LIBRARY_MODULES.get(module, module)})
