"""The contract between the registry and partner rules: the data hooks exchange (findings,
dated facts, vocabulary, obligations), the read-only view rules may look at, and the
`Rulebook` the application consults. `registry.plugins` implements it with pluggy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from registry.domain import ActionFacts, Agreement, Commitment, Problem, ValidationFailed
from registry.domain import Vocabulary as Vocabulary

Severity = Literal["error", "warning"]
SEVERITIES = ("error", "warning")
STATUSES = ("met", "due", "overdue", "not_applicable")


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one command. `error` refuses the command and records nothing;
    `warning` is recorded with the event and shown in the read models. `plugin` and
    `plugin_version` are stamped by the host; `related` names other actions (duplicates)."""

    rule: str
    severity: Severity
    message: str
    field: str
    source: str
    plugin: str = ""
    plugin_version: str = ""
    related: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["related"] = list(self.related)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**{**data, "related": tuple(data.get("related", ()))})


@dataclass(frozen=True)
class RuleInfo:
    """A rule a plugin applies: its id (`plugin.rule-name`), what it checks, and where it
    comes from (the seed sentence or the public fact and its source)."""

    id: str
    summary: str
    source: str
    severity: Severity = "error"


@dataclass(frozen=True)
class DatedFact:
    """A fact that holds from `valid_from` until the day before `valid_to` (None: open)."""

    subject: str  # e.g. "participating-state", "member-state", "session"
    value: str  # e.g. "MN", "cosp-18"
    valid_from: date | None
    valid_to: date | None
    source: str
    confirmed: bool = True
    note: str = ""

    def holds_on(self, day: date) -> bool:
        return ((self.valid_from is None or self.valid_from <= day)
                and (self.valid_to is None or day < self.valid_to))


@dataclass(frozen=True)
class PartnerDeclaration:
    """A partner a plugin speaks for, and its dated facts (memberships, offices, mandates)."""

    partner_id: str
    name: str
    facts: tuple[DatedFact, ...] = ()


@dataclass(frozen=True)
class VocabularyContribution:
    """Words a plugin adds, each with what it means: {word: description}."""

    action_kinds: dict[str, str] = field(default_factory=dict)
    mechanisms: dict[str, str] = field(default_factory=dict)
    themes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Obligation:
    """One due instance of a commitment: a period in which something must be done."""

    agreement: str
    commitment: str
    period: str  # "2009", "cosp-2", "once", "review"
    start: date
    end: date
    due_on: date
    responsible: tuple[str, ...]
    counterparts: tuple[str, ...]
    fulfilled_by: tuple[str, ...]
    cadence: str
    text: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("start", "end", "due_on"):
            data[key] = data[key].isoformat()
        for key in ("responsible", "counterparts", "fulfilled_by"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Obligation:
        values = dict(data)
        for key in ("start", "end", "due_on"):
            values[key] = date.fromisoformat(values[key])
        for key in ("responsible", "counterparts", "fulfilled_by"):
            values[key] = tuple(values[key])
        return cls(**values)


@dataclass(frozen=True)
class Evidence:
    """An action (or a recorded revision) that fulfils an obligation."""

    action_id: str
    kind: str
    reporting_partner: str
    occurred_start: date
    occurred_end: date


@dataclass(frozen=True)
class AgreementSnapshot:
    """An agreement as the rules see it when deriving obligations."""

    reference: str
    kind: str
    parties: tuple[str, ...]
    signed_on: date
    commitments: tuple[Commitment, ...]
    review_rule: dict[str, Any] | None
    terminated_on: date | None = None


@dataclass(frozen=True)
class Evaluation:
    """Which rules judged an event (plugin, version, rule ids) and what they found."""

    findings: tuple[Finding, ...] = ()
    rules_in_force: tuple[dict[str, Any], ...] = ()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def as_dict(self) -> dict[str, Any]:
        return {"rules": [dict(r) for r in self.rules_in_force],
                "findings": [f.as_dict() for f in self.findings]}

    def raise_for_errors(self) -> None:
        if self.errors:
            raise RuleViolation([Problem(f.field, f.rule, f.message) for f in self.errors],
                                findings=self.errors)


@dataclass
class RuleViolation(ValidationFailed):
    findings: list[Finding] = field(default_factory=list)
    kind = "rule-violation"


class RegistryView(Protocol):
    """What rules may read about the registry: never the store itself."""

    def partner_ids(self) -> Sequence[str]: ...

    def agreement(self, reference: str) -> Agreement | None: ...

    def similar_actions(self, facts: ActionFacts, *,
                        reported_by: str | None = None) -> Sequence[dict[str, Any]]:
        """Live actions of the same kind whose occurred period overlaps this one's, reported
        by another partner, or by `reported_by` only (as the read model holds them; dicts
        as in GET /v1/actions): the earliest 20 or so. A rule that wants one partner's
        must name it, or miss those behind 20 of other partners."""
        ...


class Rulebook(Protocol):
    vocabulary: Vocabulary
    rules_in_force: tuple[dict[str, Any], ...]

    def evaluate_action(self, facts: ActionFacts, view: RegistryView) -> Evaluation: ...

    def evaluate_agreement(self, agreement: dict[str, Any], view: RegistryView) -> Evaluation: ...


class NoRules:
    """The registry with no partner plugin active: core vocabulary, no findings."""

    vocabulary = Vocabulary()
    rules_in_force: tuple[dict[str, Any], ...] = ()

    def evaluate_action(self, facts: ActionFacts, view: RegistryView) -> Evaluation:
        return Evaluation()

    def evaluate_agreement(self, agreement: dict[str, Any], view: RegistryView) -> Evaluation:
        return Evaluation()


def today_utc() -> date:
    return datetime.now(UTC).date()
