"""The seam between the registry and partner rules: findings, evaluations, and the
read-only view of the registry that rules may look at. `registry.plugins` implements
`Rulebook` with pluggy; `NoRules` is the registry with no plugin active."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

from registry.domain import ActionFacts, Agreement, Problem, ValidationFailed, Vocabulary
from registry.domain.vocabulary import CORE_VOCABULARY

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one command. Errors refuse the command; warnings are recorded
    with the event and shown in projections."""

    rule: str
    plugin: str
    plugin_version: str
    severity: Severity
    message: str
    field: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


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

    def similar_actions(self, facts: ActionFacts) -> Sequence[dict[str, Any]]: ...


class Rulebook(Protocol):
    vocabulary: Vocabulary

    def evaluate_action(self, facts: ActionFacts, view: RegistryView) -> Evaluation: ...

    def evaluate_agreement(self, agreement: dict[str, Any], view: RegistryView) -> Evaluation: ...


class NoRules:
    """The registry with no partner plugin active: core vocabulary, no findings."""

    vocabulary = CORE_VOCABULARY

    def evaluate_action(self, facts: ActionFacts, view: RegistryView) -> Evaluation:
        return Evaluation()

    def evaluate_agreement(self, agreement: dict[str, Any], view: RegistryView) -> Evaluation:
        return Evaluation()


def today_utc() -> date:
    from datetime import UTC, datetime

    return datetime.now(UTC).date()
