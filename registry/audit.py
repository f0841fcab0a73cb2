"""Re-judge recorded history under today's rules, to see where they would now differ.
Replay never re-rejects history: this only reports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eventsourcing.utils import get_topic

from registry.bootstrap import Services
from registry.domain import Action, ActionFacts, action_problems
from registry.io import iter_notifications

JUDGED = {get_topic(Action.Reported), get_topic(Action.Amended)}


@dataclass(frozen=True)
class RuleDrift:
    position: int
    action_id: str
    version: int
    now_found: list[tuple[str, str, str]]  # (rule, severity, field) found today, not then
    no_longer: list[tuple[str, str, str]]  # found then, not today
    rules_then: list[dict[str, Any]]


class _ViewAsOf:
    """The registry as rules saw it just before `position`."""

    def __init__(self, services: Services, position: int) -> None:
        self.services, self.position = services, position

    def partner_ids(self) -> list[str]:
        return [p["id"] for p in self.services.queries.partners(as_of=self.position)]

    def agreement(self, reference: str) -> Any:
        return self.services.app.rule_view().agreement(reference)

    def similar_actions(self, facts: ActionFacts, *,
                        reported_by: str | None = None) -> list[dict[str, Any]]:
        return self.services.queries.similar_actions(facts, as_of=self.position,
                                                     reported_by=reported_by)


def audit_rules(services: Services) -> Iterator[RuleDrift]:
    app = services.app
    for notification in iter_notifications(app.recorder):
        if notification.topic not in JUDGED:
            continue
        event = app.mapper.to_domain_event(notification)
        action = app.repository.get(event.originator_id, version=event.originator_version)
        facts = action.facts
        then = {_key(f) for f in event.evaluation.get("findings", [])}
        view = _ViewAsOf(services, notification.id - 1)
        now = {_key(f.as_dict()) for f in app.rules.evaluate_action(facts, view).findings}
        now |= {(p.rule, "error", p.field) for p in action_problems(
            facts, partners=set(view.partner_ids()), vocabulary=app.rules.vocabulary,
            find_agreement=view.agreement, today=event.timestamp.date())}
        if now != then:
            yield RuleDrift(notification.id, str(event.originator_id),
                            event.originator_version, sorted(now - then), sorted(then - now),
                            event.evaluation.get("rules", []))


def _key(finding: dict[str, Any]) -> tuple[str, str, str]:
    return (finding["rule"], finding["severity"], finding["field"])
