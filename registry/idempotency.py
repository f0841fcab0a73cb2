"""Idempotency keys, recorded as events in the same atomic save as the command they guard,
so a retry can never record a command twice, even across crashes and processes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from registry.domain.ids import idempotency_uuid


class IdempotencyKey(Aggregate):
    @staticmethod
    def create_id(principal: str, key: str) -> UUID:
        return idempotency_uuid(principal, key)

    @event("Claimed")
    def __init__(self, principal: str, key: str, fingerprint: str,
                 outcomes: list[dict[str, Any]]) -> None:
        self.principal = principal
        self.key = key
        self.fingerprint = fingerprint
        self.outcomes = outcomes
