"""Actions read model: who did what, where and when, with every version kept.

Rows are versioned in transaction time (`valid_from`/`valid_to` are global positions), so
the current state is `valid_to IS NULL` and the state as of position P is
`valid_from <= P < coalesce(valid_to, ∞)`: no replay per query."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from registry.domain import Action
from registry.projections.base import ReadModel, dumps, iso

TAGS = ("partner", "counterpart", "country", "theme", "mechanism")


class ActionsProjection(ReadModel):
    name = "actions"
    topics = tuple(get_topic(e) for e in (Action.Reported, Action.Amended, Action.Retracted))
    tables: ClassVar[dict[str, str]] = {
        "action_versions": """
            action_id TEXT NOT NULL, version INTEGER NOT NULL, valid_from BIGINT NOT NULL,
            valid_to BIGINT, event TEXT NOT NULL, status TEXT NOT NULL,
            reporting_partner TEXT NOT NULL, kind TEXT NOT NULL,
            occurred_start TEXT NOT NULL, occurred_end TEXT NOT NULL,
            agreement TEXT, commitment TEXT, facts TEXT NOT NULL, changes TEXT,
            reason TEXT, findings TEXT NOT NULL, recorded_at TEXT NOT NULL,
            recorded_by TEXT NOT NULL, first_recorded_at TEXT NOT NULL,
            PRIMARY KEY (action_id, version)""",
        "action_tags": """
            tag TEXT NOT NULL, value TEXT NOT NULL, action_id TEXT NOT NULL,
            version INTEGER NOT NULL, PRIMARY KEY (tag, value, action_id, version)""",
    }
    indexes: ClassVar[list[str]] = [
        "CREATE INDEX IF NOT EXISTS action_versions_current ON {action_versions} "
        "(valid_to, occurred_start, action_id)",
        "CREATE INDEX IF NOT EXISTS action_versions_from ON {action_versions} (valid_from)",
        "CREATE INDEX IF NOT EXISTS action_tags_action ON {action_tags} (action_id, version)",
    ]

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Other events do not concern this read model."""

    @process_event.register
    def _(self, event: Action.Reported, tracking: Tracking) -> None:
        self._insert(event, tracking, "reported", event.facts, status="reported",
                     changes=None, reason=None, first_recorded_at=event.timestamp)

    @process_event.register
    def _(self, event: Action.Amended, tracking: Tracking) -> None:
        previous = self._close(event, tracking)
        facts = {**previous["facts"], **event.changes}
        self._insert(event, tracking, "amended", facts, status=previous["status"],
                     changes=event.changes, reason=event.reason,
                     first_recorded_at=previous["first_recorded_at"])

    @process_event.register
    def _(self, event: Action.Retracted, tracking: Tracking) -> None:
        previous = self._close(event, tracking)
        self._insert(event, tracking, "retracted", previous["facts"], status="retracted",
                     changes=None, reason=event.reason,
                     first_recorded_at=previous["first_recorded_at"])

    def _close(self, event: Any, tracking: Tracking) -> dict[str, Any]:
        table = self.t("action_versions")
        key = str(event.originator_id)
        cursor = self.model.execute(
            f"SELECT facts, status, first_recorded_at FROM {table} "
            "WHERE action_id = ? AND valid_to IS NULL", (key,))
        row = cursor.fetchone()
        self.model.execute(f"UPDATE {table} SET valid_to = ? WHERE action_id = ? "
                           "AND valid_to IS NULL", (tracking.notification_id, key))
        return {"facts": json.loads(row["facts"]), "status": row["status"],
                "first_recorded_at": row["first_recorded_at"]}

    def _insert(self, event: Any, tracking: Tracking, kind: str, facts: dict[str, Any], *,
                status: str, changes: dict[str, Any] | None, reason: str | None,
                first_recorded_at: Any) -> None:
        key, version = str(event.originator_id), event.originator_version
        self.model.execute(
            f"INSERT INTO {self.t('action_versions')} VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (key, version, tracking.notification_id, None, kind, status,
             facts["reporting_partner"], facts["kind"], facts["occurred_on"]["start"],
             facts["occurred_on"]["end"], facts.get("agreement"), facts.get("commitment"),
             dumps(facts), dumps(changes) if changes is not None else None, reason,
             dumps(event.evaluation.get("findings", [])), iso(event.timestamp),
             event.recorded_by, iso(first_recorded_at)))
        self.model.executemany(
            f"INSERT INTO {self.t('action_tags')} VALUES (?,?,?,?)",
            [(tag, value, key, version) for tag, value in _tags(facts)])


def _tags(facts: dict[str, Any]) -> list[tuple[str, str]]:
    reporting = facts["reporting_partner"]
    tags = [("partner", p) for p in facts["partners"]]
    tags += [("counterpart", p) for p in facts["partners"] if p != reporting]
    tags += [("country", v) for v in facts.get("countries", ())]
    tags += [("theme", v) for v in facts.get("themes", ())]
    tags += [("mechanism", v) for v in facts.get("mechanisms", ())]
    return sorted(set(tags))


