"""Agreement: a written instrument that binds two or more partners to commitments."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from registry.domain.errors import Problem, ValidationFailed, invalid
from registry.domain.ids import agreement_uuid
from registry.domain.values import Commitment

REVISABLE = ("title", "commitments", "review_rule", "summary")


def commitment_problems(commitments: list[Commitment], parties: list[str],
                        field_name: str = "commitments") -> list[Problem]:
    """The commitment invariants: unique ids, and only parties are bound or owed."""
    found, seen = [], set()
    for index, c in enumerate(commitments):
        where = f"{field_name}[{index}]"
        if c.id in seen:
            found.append(Problem(f"{where}.id", "commitment.unique-id",
                                 f"commitment id {c.id!r} is used twice"))
        seen.add(c.id)
        for role in ("responsible", "counterparts"):
            for partner in getattr(c, role):
                if partner not in parties:
                    found.append(Problem(f"{where}.{role}", "commitment.party",
                                         f"{partner!r} is not a party to this agreement "
                                         f"(parties: {', '.join(parties)})"))
        if not c.responsible:
            found.append(Problem(f"{where}.responsible", "commitment.responsible",
                                 "a commitment binds at least one party"))
    return found


class Agreement(Aggregate):
    @staticmethod
    def create_id(reference: str) -> UUID:
        return agreement_uuid(reference)

    @classmethod
    def register(cls, *, reference: str, kind: str, title: str, parties: list[str],
                 signed_on: date, signed_at: str, signatories: list[dict[str, str]],
                 commitments: list[Commitment], review_rule: dict[str, Any] | None,
                 summary: str, provenance: str, recorded_by: str,
                 evaluation: dict[str, Any]) -> Agreement:
        problems = []
        if len(set(parties)) < 2 or len(set(parties)) != len(parties):
            problems.append(Problem("parties", "agreement.parties",
                                    "an agreement needs at least two distinct parties"))
        for index, signatory in enumerate(signatories):
            if signatory["partner"] not in parties:
                problems.append(Problem(f"signatories[{index}].partner", "signatory.party",
                                        f"{signatory['partner']!r} is not a party"))
        problems += commitment_problems(commitments, parties)
        if problems:
            raise ValidationFailed(problems)
        return cls(reference=reference, kind=kind, title=title, parties=parties,
                   signed_on=signed_on, signed_at=signed_at, signatories=signatories,
                   commitments=[c.as_dict() for c in commitments], review_rule=review_rule,
                   summary=summary, provenance=provenance, recorded_by=recorded_by,
                   evaluation=evaluation)

    @event("Registered")
    def __init__(self, *, reference: str, kind: str, title: str, parties: list[str],
                 signed_on: date, signed_at: str, signatories: list[dict[str, str]],
                 commitments: list[dict[str, Any]], review_rule: dict[str, Any] | None,
                 summary: str, provenance: str, recorded_by: str,
                 evaluation: dict[str, Any]) -> None:
        self.reference = reference
        self.kind = kind
        self.title = title
        self.parties = list(parties)
        self.signed_on = signed_on
        self.signed_at = signed_at
        self.signatories = list(signatories)
        self.commitments = [Commitment.from_dict(c) for c in commitments]
        self.review_rule = review_rule
        self.summary = summary
        self.provenance = provenance
        self.text_version = 1
        self.terminated_on: date | None = None

    def commitment(self, commitment_id: str) -> Commitment | None:
        return next((c for c in self.commitments if c.id == commitment_id), None)

    def _check_open(self) -> None:
        if self.terminated_on is not None:
            raise invalid("reference", "agreement.terminated",
                          f"agreement {self.reference} was terminated on {self.terminated_on}")

    def add_commitment(self, commitment: Commitment, recorded_by: str,
                       evaluation: dict[str, Any]) -> None:
        self._check_open()
        problems = commitment_problems([*self.commitments, commitment], self.parties)
        if problems:
            raise ValidationFailed([Problem(p.field.replace(
                f"commitments[{len(self.commitments)}]", "commitment"), p.rule, p.message)
                for p in problems])
        self._commitment_added(commitment.as_dict(), recorded_by, evaluation)

    @event("CommitmentAdded")
    def _commitment_added(self, commitment: dict[str, Any], recorded_by: str,
                          evaluation: dict[str, Any]) -> None:
        self.commitments.append(Commitment.from_dict(commitment))

    def revise(self, changes: dict[str, Any], reason: str, revised_on: date, recorded_by: str,
               evaluation: dict[str, Any]) -> None:
        """A new version of the agreement's text, in force from `revised_on`; the earlier
        one stays in the history."""
        self._check_open()
        if revised_on < self.signed_on:
            raise invalid("revised_on", "agreement.revised-before-signature",
                          f"{revised_on} is before the signature on {self.signed_on}")
        unknown = sorted(set(changes) - set(REVISABLE))
        if unknown or not changes:
            raise invalid("changes", "agreement.revisable",
                          f"a revision changes some of {', '.join(REVISABLE)}"
                          + (f"; not {', '.join(unknown)}" if unknown else ""))
        if "commitments" in changes:
            problems = commitment_problems(changes["commitments"], self.parties,
                                           "changes.commitments")
            if problems:
                raise ValidationFailed(problems)
            changes = {**changes, "commitments": [c.as_dict() for c in changes["commitments"]]}
        self._revised(changes, reason, revised_on, recorded_by, evaluation)

    @event("Revised")
    def _revised(self, changes: dict[str, Any], reason: str, revised_on: date,
                 recorded_by: str, evaluation: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name == "commitments":
                value = [Commitment.from_dict(c) for c in value]
            setattr(self, name, value)
        self.text_version += 1

    def terminate(self, terminated_on: date, reason: str, recorded_by: str,
                  evaluation: dict[str, Any]) -> None:
        self._check_open()
        if terminated_on < self.signed_on:
            raise invalid("terminated_on", "agreement.terminated-before-signature",
                          f"{terminated_on} is before the signature on {self.signed_on}")
        self._terminated(terminated_on, reason, recorded_by, evaluation)

    @event("Terminated")
    def _terminated(self, terminated_on: date, reason: str, recorded_by: str,
                    evaluation: dict[str, Any]) -> None:
        self.terminated_on = terminated_on
