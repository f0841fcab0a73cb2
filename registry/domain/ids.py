"""Stable aggregate ids: partners and agreements are named by slugs people can read."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

NAMESPACE = uuid5(NAMESPACE_URL, "https://coopreg.example/ids")


def partner_uuid(partner_id: str) -> UUID:
    return uuid5(NAMESPACE, f"partner:{partner_id}")


def agreement_uuid(reference: str) -> UUID:
    return uuid5(NAMESPACE, f"agreement:{reference}")


def idempotency_uuid(principal: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"idempotency:{principal}:{key}")
