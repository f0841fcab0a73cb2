"""Partner: an organization that cooperates under the registry's agreements."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from registry.domain.errors import invalid
from registry.domain.ids import partner_uuid


class Partner(Aggregate):
    @staticmethod
    def create_id(partner_id: str) -> UUID:
        return partner_uuid(partner_id)

    @event("Registered")
    def __init__(
        self,
        partner_id: str,
        name: str,
        kind: str,
        seat: str,
        recorded_by: str,
        evaluation: dict[str, Any],
    ) -> None:
        self.partner_id = partner_id
        self.name = name
        self.kind = kind
        self.seat = seat

    def rename(self, name: str, reason: str, recorded_by: str,
               evaluation: dict[str, Any]) -> None:
        if name == self.name:
            raise invalid("name", "partner.rename-unchanged", f"{self.partner_id} is already "
                          f"named {name!r}")
        self._renamed(name, reason, recorded_by, evaluation)

    @event("Renamed")
    def _renamed(self, name: str, reason: str, recorded_by: str,
                 evaluation: dict[str, Any]) -> None:
        self.name = name
