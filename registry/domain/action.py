"""Action: one cooperation action a partner reports having taken with others."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from registry.domain.agreement import Agreement
from registry.domain.errors import Problem, ValidationFailed, invalid
from registry.domain.values import Period
from registry.domain.vocabulary import Vocabulary

AMENDABLE = ("partners", "kind", "occurred_on", "countries", "mechanisms", "themes", "agreement",
             "commitment", "venue", "summary", "references")
SEQUENCES = ("partners", "countries", "mechanisms", "themes", "references")  # tuples in facts


@dataclass(frozen=True)
class ActionFacts:
    """What an action claims, independent of how it is stored: what rules look at."""

    reporting_partner: str
    partners: tuple[str, ...]
    kind: str
    occurred_on: Period
    countries: tuple[str, ...] = ()
    mechanisms: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    agreement: str | None = None
    commitment: str | None = None
    venue: str = ""
    summary: str = ""
    references: tuple[str, ...] = ()
    provenance: str = "reported"

    @property
    def counterparts(self) -> tuple[str, ...]:
        return tuple(p for p in self.partners if p != self.reporting_partner)

    def as_payload(self) -> dict[str, Any]:
        return {
            "reporting_partner": self.reporting_partner, "partners": list(self.partners),
            "kind": self.kind, "occurred_on": self.occurred_on.as_dict(),
            "countries": list(self.countries), "mechanisms": list(self.mechanisms),
            "themes": list(self.themes), "agreement": self.agreement,
            "commitment": self.commitment, "venue": self.venue, "summary": self.summary,
            "references": list(self.references), "provenance": self.provenance,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> ActionFacts:
        values = dict(data)
        values["occurred_on"] = Period.from_dict(data["occurred_on"])
        for key in SEQUENCES:
            value = values.get(key)
            if isinstance(value, list):
                values[key] = tuple(value)
        return cls(**values)


def _unknown(field_name: str, rule: str, values: Collection[str], allowed: Collection[str],
             what: str) -> list[Problem]:
    return [Problem(f"{field_name}[{i}]", rule, f"{v!r} is not a known {what}")
            for i, v in enumerate(values) if v not in allowed]


def action_problems(
    facts: ActionFacts,
    *,
    partners: Collection[str],
    vocabulary: Vocabulary,
    find_agreement: Callable[[str], Agreement | None],
    today: date,
) -> list[Problem]:
    """Every domain invariant an action must hold, all at once so a person fixes all."""
    found = _unknown("partners", "partner.known", facts.partners, partners, "partner")
    if facts.reporting_partner not in partners:
        found.append(Problem("reporting_partner", "partner.known",
                             f"{facts.reporting_partner!r} is not a registered partner"))
    if facts.reporting_partner not in facts.partners:
        found.append(Problem("partners", "action.reporting-partner-involved",
                             f"the reporting partner {facts.reporting_partner!r} must be "
                             "among the partners involved"))
    if len(set(facts.partners)) != len(facts.partners):
        found.append(Problem("partners", "action.distinct-partners", "a partner is named twice"))
    if facts.kind not in vocabulary.action_kinds:
        found.append(Problem("kind", "action.kind", f"{facts.kind!r} is not a known action kind "
                             f"(known: {', '.join(sorted(vocabulary.action_kinds))})"))
    found += facts.occurred_on.problems("occurred_on", today)
    found += _unknown("countries", "country.iso3166", facts.countries, vocabulary.countries,
                      "ISO 3166-1 alpha-2 country code")
    found += _unknown("mechanisms", "action.mechanism", facts.mechanisms, vocabulary.mechanisms,
                      "mechanism")
    found += _unknown("themes", "action.theme", facts.themes, vocabulary.themes, "theme")
    found += _agreement_problems(facts, find_agreement)
    return found


def _agreement_problems(facts: ActionFacts,
                        find_agreement: Callable[[str], Agreement | None]) -> list[Problem]:
    if facts.agreement is None:
        if facts.commitment is not None:
            return [Problem("commitment", "action.commitment-needs-agreement",
                            "name the agreement whose commitment this action fulfils")]
        return []
    agreement = find_agreement(facts.agreement)
    if agreement is None:
        return [Problem("agreement", "agreement.known", f"no agreement {facts.agreement!r}")]
    if facts.commitment is not None and agreement.commitment(facts.commitment) is None:
        return [Problem("commitment", "commitment.known",
                        f"agreement {facts.agreement} has no commitment {facts.commitment!r}")]
    return []


class Action(Aggregate):
    @event("Reported")
    def __init__(self, id: UUID, facts: dict[str, Any], recorded_by: str,
                 evaluation: dict[str, Any]) -> None:
        """`id` is given by the application (new, or chosen by the reporter for imports)."""
        self.facts = ActionFacts.from_payload(facts)
        self.retracted_reason: str | None = None
        self.responses: dict[str, dict[str, str]] = {}  # counterpart -> {response, text}

    @property
    def is_retracted(self) -> bool:
        return self.retracted_reason is not None

    def _check_live(self) -> None:
        if self.is_retracted:
            raise invalid("action", "action.retracted",
                          f"action {self.id} was retracted ({self.retracted_reason}); "
                          "report a new action instead")

    def amended_facts(self, changes: dict[str, Any]) -> ActionFacts:
        """The facts as they would be after the changes (for validation before amending)."""
        self._check_live()
        unknown = sorted(set(changes) - set(AMENDABLE))
        if unknown:
            raise invalid(f"changes.{unknown[0]}", "action.amendable",
                          f"only {', '.join(AMENDABLE)} can be amended")
        payload = {**self.facts.as_payload(), **changes}
        if isinstance(payload["occurred_on"], Period):
            payload["occurred_on"] = payload["occurred_on"].as_dict()
        new = ActionFacts.from_payload(payload)
        if new == self.facts:
            raise invalid("changes", "action.amendment-changes-nothing",
                          "the amendment changes nothing")
        return new

    def amend(self, new_facts: ActionFacts, reason: str, recorded_by: str,
              evaluation: dict[str, Any]) -> None:
        self._check_live()
        old, new = self.facts.as_payload(), new_facts.as_payload()
        changes = {k: v for k, v in new.items() if old[k] != v}
        if not changes:
            raise invalid("changes", "action.amendment-changes-nothing",
                          "the amendment changes nothing")
        self._amended(changes, reason, recorded_by, evaluation)

    @event("Amended")
    def _amended(self, changes: dict[str, Any], reason: str, recorded_by: str,
                 evaluation: dict[str, Any]) -> None:
        self.facts = ActionFacts.from_payload({**self.facts.as_payload(), **changes})
        self.responses = {}  # they confirmed or disputed the earlier claim, not this one

    @property
    def confirmation(self) -> str:
        return confirmation(self.facts.counterparts, self.responses)

    def _check_respondent(self, partner: str, response: str, text: str) -> None:
        self._check_live()
        if self.responses.get(partner) == {"response": response, "text": text}:
            raise invalid("partner", "action.response-unchanged",
                          f"{partner} has already {response} this action in these words")
        if partner == self.facts.reporting_partner:
            raise invalid("partner", "action.respond-own",
                          f"{partner} reported this action; another partner named in it "
                          "acknowledges or disputes it")
        if partner not in self.facts.partners:
            raise invalid("partner", "action.respondent-named",
                          f"{partner} is not named in this action "
                          f"(partners: {', '.join(self.facts.partners)})")

    def acknowledge(self, partner: str, note: str, recorded_by: str,
                    evaluation: dict[str, Any]) -> None:
        self._check_respondent(partner, "acknowledged", note)
        self._acknowledged(partner, note, recorded_by, evaluation)

    @event("Acknowledged")
    def _acknowledged(self, partner: str, note: str, recorded_by: str,
                      evaluation: dict[str, Any]) -> None:
        self.responses[partner] = {"response": "acknowledged", "text": note}

    def dispute(self, partner: str, reason: str, recorded_by: str,
                evaluation: dict[str, Any]) -> None:
        self._check_respondent(partner, "disputed", reason)
        self._disputed(partner, reason, recorded_by, evaluation)

    @event("Disputed")
    def _disputed(self, partner: str, reason: str, recorded_by: str,
                  evaluation: dict[str, Any]) -> None:
        self.responses[partner] = {"response": "disputed", "text": reason}

    def retract(self, reason: str, recorded_by: str, evaluation: dict[str, Any]) -> None:
        self._check_live()
        self._retracted(reason, recorded_by, evaluation)

    @event("Retracted")
    def _retracted(self, reason: str, recorded_by: str, evaluation: dict[str, Any]) -> None:
        self.retracted_reason = reason


def confirmation(counterparts: tuple[str, ...], responses: dict[str, dict[str, str]]) -> str:
    """`disputed` if any partner named disputes it, `acknowledged` once every partner named
    acknowledged it, else `claimed` (the reporter's word alone)."""
    answers = [responses.get(p, {}).get("response") for p in counterparts]
    if "disputed" in answers:
        return "disputed"
    if answers and all(a == "acknowledged" for a in answers):
        return "acknowledged"
    return "claimed"


def require_no_problems(problems: list[Problem]) -> None:
    if problems:
        raise ValidationFailed(problems)
