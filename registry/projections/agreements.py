"""Agreements and partners read models, versioned in transaction time like actions."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from registry.domain import Agreement, Partner
from registry.projections.base import ReadModel, dumps, iso


class AgreementsProjection(ReadModel):
    name = "agreements"
    topics = tuple(get_topic(e) for e in (Agreement.Registered, Agreement.CommitmentAdded,
                                          Agreement.Revised, Agreement.Terminated))
    tables: ClassVar[dict[str, str]] = {
        "agreement_versions": """
            reference TEXT NOT NULL, version INTEGER NOT NULL, agreement_id TEXT NOT NULL,
            valid_from BIGINT NOT NULL, valid_to BIGINT, event TEXT NOT NULL,
            status TEXT NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL,
            signed_on TEXT NOT NULL, text_version INTEGER NOT NULL,
            data TEXT NOT NULL, changes TEXT, reason TEXT, findings TEXT NOT NULL,
            recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL,
            PRIMARY KEY (reference, version)""",
        "agreement_parties": """
            partner TEXT NOT NULL, reference TEXT NOT NULL, signed_on TEXT NOT NULL,
            PRIMARY KEY (partner, reference)""",
    }
    indexes: ClassVar[list[str]] = [
        "CREATE INDEX IF NOT EXISTS agreement_versions_current ON {agreement_versions} "
        "(valid_to, signed_on)",
        "CREATE INDEX IF NOT EXISTS agreement_versions_id ON {agreement_versions} "
        "(agreement_id, valid_to)",
    ]

    @singledispatchmethod
    def apply(self, domain_event: Any, tracking: Tracking) -> None:
        """Other events do not concern this read model."""

    @apply.register
    def _(self, event: Agreement.Registered, tracking: Tracking) -> None:
        data = {k: getattr(event, k) for k in (
            "reference", "kind", "title", "parties", "signed_on", "signed_at", "signatories",
            "commitments", "review_rule", "summary", "provenance")}
        data["signed_on"] = iso(data["signed_on"])
        data.update(text_version=1, terminated_on=None, status="in_force")
        self._insert(event, tracking, "registered", data, changes=None, reason=None)
        self.model.executemany(
            f"INSERT INTO {self.t('agreement_parties')} VALUES (?,?,?)",
            [(p, event.reference, data["signed_on"]) for p in event.parties])

    @apply.register
    def _(self, event: Agreement.CommitmentAdded, tracking: Tracking) -> None:
        data = self._close(event, tracking)
        data["commitments"] = [*data["commitments"], event.commitment]
        self._insert(event, tracking, "commitment_added", data,
                     changes={"commitment": event.commitment}, reason=None)

    @apply.register
    def _(self, event: Agreement.Revised, tracking: Tracking) -> None:
        data = self._close(event, tracking)
        data.update(event.changes, revised_on=iso(event.revised_on))
        data["text_version"] += 1
        self._insert(event, tracking, "revised", data, changes=event.changes,
                     reason=event.reason)

    @apply.register
    def _(self, event: Agreement.Terminated, tracking: Tracking) -> None:
        data = self._close(event, tracking)
        data.update(status="terminated", terminated_on=iso(event.terminated_on))
        self._insert(event, tracking, "terminated", data, changes=None, reason=event.reason)

    def _close(self, event: Any, tracking: Tracking) -> dict[str, Any]:
        table, key = self.t("agreement_versions"), str(event.originator_id)
        row = self.model.execute(f"SELECT data FROM {table} WHERE agreement_id = ? "
                                 "AND valid_to IS NULL", (key,)).fetchone()
        self.model.execute(f"UPDATE {table} SET valid_to = ? WHERE agreement_id = ? "
                           "AND valid_to IS NULL", (tracking.notification_id, key))
        return json.loads(row["data"])

    def _insert(self, event: Any, tracking: Tracking, kind: str, data: dict[str, Any], *,
                changes: dict[str, Any] | None, reason: str | None) -> None:
        self.model.execute(
            f"INSERT INTO {self.t('agreement_versions')} VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (data["reference"], event.originator_version, str(event.originator_id),
             tracking.notification_id, None, kind,
             data["status"], data["kind"], data["title"], data["signed_on"],
             data["text_version"], dumps(data),
             dumps(changes) if changes is not None else None, reason,
             dumps(event.evaluation.get("findings", [])), iso(event.timestamp),
             event.recorded_by))


class PartnersProjection(ReadModel):
    name = "partners"
    topics = tuple(get_topic(e) for e in (Partner.Registered, Partner.Renamed))
    tables: ClassVar[dict[str, str]] = {
        "partner_versions": """
            partner_id TEXT NOT NULL, version INTEGER NOT NULL, valid_from BIGINT NOT NULL,
            valid_to BIGINT, name TEXT NOT NULL, kind TEXT NOT NULL, seat TEXT NOT NULL,
            partner_uuid TEXT NOT NULL, recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL,
            PRIMARY KEY (partner_id, version)""",
    }

    @singledispatchmethod
    def apply(self, domain_event: Any, tracking: Tracking) -> None:
        """Other events do not concern this read model."""

    @apply.register
    def _(self, event: Partner.Registered, tracking: Tracking) -> None:
        self._insert(event, tracking, event.partner_id, event.name, event.kind, event.seat)

    @apply.register
    def _(self, event: Partner.Renamed, tracking: Tracking) -> None:
        table = self.t("partner_versions")
        row = self.model.execute(f"SELECT * FROM {table} WHERE partner_uuid = ? "
                                 "AND valid_to IS NULL", (str(event.originator_id),)).fetchone()
        self.model.execute(f"UPDATE {table} SET valid_to = ? WHERE partner_uuid = ? AND "
                           "valid_to IS NULL", (tracking.notification_id, str(event.originator_id)))
        self._insert(event, tracking, row["partner_id"], event.name, row["kind"], row["seat"])

    def _insert(self, event: Any, tracking: Tracking, partner_id: str, name: str, kind: str,
                seat: str) -> None:
        self.model.execute(
            f"INSERT INTO {self.t('partner_versions')} VALUES (?,?,?,?,?,?,?,?,?,?)",
            (partner_id, event.originator_version, tracking.notification_id, None, name, kind,
             seat, str(event.originator_id), iso(event.timestamp), event.recorded_by))
