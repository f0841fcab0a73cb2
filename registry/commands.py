"""Commands: what a principal asks the registry to record. Plain data, parsed by
`registry.schemas` from JSON and handled by `registry.application.Registry`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, is_dataclass
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from registry.domain import ActionFacts, Commitment


@dataclass(frozen=True)
class Command:
    name: ClassVar[str] = ""

    def fingerprint(self) -> str:
        """Stable digest of the command, to recognise a retried idempotent request."""
        text = json.dumps({"command": self.name, **_plain(self)}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date | UUID):
        return str(value)
    return value


@dataclass(frozen=True)
class RegisterPartner(Command):
    name: ClassVar[str] = "register_partner"
    partner_id: str
    display_name: str
    kind: str
    seat: str


@dataclass(frozen=True)
class RenamePartner(Command):
    name: ClassVar[str] = "rename_partner"
    partner_id: str
    display_name: str
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class RegisterAgreement(Command):
    name: ClassVar[str] = "register_agreement"
    reference: str
    kind: str
    title: str
    parties: tuple[str, ...]
    signed_on: date
    signed_at: str
    signatories: tuple[dict[str, str], ...] = ()
    commitments: tuple[Commitment, ...] = ()
    review_rule: dict[str, Any] | None = None
    summary: str = ""
    provenance: str = "reported"


@dataclass(frozen=True)
class AddCommitment(Command):
    name: ClassVar[str] = "add_commitment"
    agreement: str
    commitment: Commitment
    expected_version: int | None = None


@dataclass(frozen=True)
class ReviseAgreement(Command):
    name: ClassVar[str] = "revise_agreement"
    agreement: str
    changes: dict[str, Any]
    reason: str
    revised_on: date | None = None  # when the revision took effect; default: today
    expected_version: int | None = None


@dataclass(frozen=True)
class TerminateAgreement(Command):
    name: ClassVar[str] = "terminate_agreement"
    agreement: str
    terminated_on: date
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class ReportAction(Command):
    name: ClassVar[str] = "report_action"
    facts: ActionFacts
    action_id: UUID | None = None


@dataclass(frozen=True)
class AmendAction(Command):
    name: ClassVar[str] = "amend_action"
    action_id: UUID
    changes: dict[str, Any]
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class RetractAction(Command):
    name: ClassVar[str] = "retract_action"
    action_id: UUID
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True)
class AcknowledgeAction(Command):
    name: ClassVar[str] = "acknowledge_action"
    action_id: UUID
    partner: str
    note: str = ""


@dataclass(frozen=True)
class DisputeAction(Command):
    name: ClassVar[str] = "dispute_action"
    action_id: UUID
    partner: str
    reason: str


@dataclass(frozen=True)
class Receipt:
    """What a recorded command answers: which aggregate, its new version, and the global
    position of its last new event in the notification log."""

    aggregate: str
    aggregate_id: str
    version: int
    position: int
    warnings: tuple[dict[str, Any], ...] = ()  # findings recorded with the event

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data


@dataclass(frozen=True)
class Submission:
    """Commands one principal sends together, recorded all or none; with an idempotency
    key, a retry answers the first receipts."""

    commands: tuple[Command, ...]
    by: str
    idempotency_key: str | None = None


COMMANDS: dict[str, type[Command]] = {
    c.name: c for c in (RegisterPartner, RenamePartner, RegisterAgreement, AddCommitment,
                        ReviseAgreement, TerminateAgreement, ReportAction, AmendAction,
                        RetractAction, AcknowledgeAction, DisputeAction)
}
