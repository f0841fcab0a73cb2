"""Compliance read model: every agreement's obligations per period and the actions that
fulfil them, derived by the plugins' hooks and kept up to date incrementally.

Obligations are re-derived only when their agreement changes; an action is matched only
against the obligations its kind and reporter could fulfil. Whether an obligation is met,
due or overdue on a given date is answered from these rows (see Queries.compliance).

Obligations and evidence are versioned in transaction time like every read model: a row
is never deleted, it is retired (`valid_to` = the position of the event that changed or
withdrew it) and its successor, if any, starts there. A re-derivation retires and adds only
the rows that differ, so "what did compliance show at position P" is an indexed query."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from registry.compliance import REVIEW, review_commitment
from registry.domain import Action, ActionFacts, Agreement, Commitment
from registry.projections.base import ReadModel, dumps, iso
from registry.projections.layout import create_tables_or_relayout
from registry.rules import AgreementSnapshot, Obligation

LIVE_ACTIONS_PAGE = 2000  # actions matched against re-derived obligations per query


class ComplianceProjection(ReadModel):
    name = "compliance"
    topics = tuple(get_topic(e) for e in (
        Agreement.Registered, Agreement.CommitmentAdded, Agreement.Revised,
        Agreement.Terminated, Action.Reported, Action.Amended, Action.Retracted))
    tables: ClassVar[dict[str, str]] = {
        "compliance_agreements": """
            reference TEXT NOT NULL, agreement_id TEXT NOT NULL, snapshot TEXT NOT NULL,
            revisions TEXT NOT NULL, PRIMARY KEY (reference, agreement_id)""",
        "compliance_obligation_versions": """
            reference TEXT NOT NULL, commitment TEXT NOT NULL, period TEXT NOT NULL,
            valid_from BIGINT NOT NULL, valid_to BIGINT,
            start_on TEXT NOT NULL, due_on TEXT NOT NULL, obligation TEXT NOT NULL,
            PRIMARY KEY (reference, commitment, period, valid_from)""",
        "compliance_actions": """
            action_id TEXT NOT NULL, kind TEXT NOT NULL, live INTEGER NOT NULL,
            facts TEXT NOT NULL, PRIMARY KEY (action_id)""",
        "compliance_generation": """
            name TEXT NOT NULL, generation BIGINT NOT NULL, unused TEXT,
            PRIMARY KEY (name)""",
        "compliance_evidence_versions": """
            reference TEXT NOT NULL, commitment TEXT NOT NULL, period TEXT NOT NULL,
            action_id TEXT NOT NULL, valid_from BIGINT NOT NULL, valid_to BIGINT,
            occurred_start TEXT NOT NULL, occurred_end TEXT NOT NULL,
            kind TEXT NOT NULL, reporting_partner TEXT NOT NULL,
            PRIMARY KEY (reference, commitment, period, action_id, valid_from)""",
    }
    lookup_indexes: ClassVar[list[str]] = [  # an amendment's or retraction's evidence
        "CREATE INDEX IF NOT EXISTS compliance_evidence_action ON "
        "{compliance_evidence_versions} (action_id, valid_to)",
    ]
    indexes: ClassVar[list[str]] = [
        "CREATE INDEX IF NOT EXISTS compliance_actions_kind_live ON {compliance_actions} "
        "(kind, live, action_id)",  # a kind's live actions, page by page in id order
        "CREATE INDEX IF NOT EXISTS compliance_obligations_current ON "
        "{compliance_obligation_versions} (valid_to, reference)",
        "CREATE INDEX IF NOT EXISTS compliance_obligations_from ON "
        "{compliance_obligation_versions} (valid_from)",
        "CREATE INDEX IF NOT EXISTS compliance_evidence_to ON "
        "{compliance_evidence_versions} (valid_to)",
        "CREATE INDEX IF NOT EXISTS compliance_evidence_from ON "
        "{compliance_evidence_versions} (valid_from)",
    ]  # per agreement, the primary keys; (valid_from) and (valid_to) serve `audit diff`
    unversioned: ClassVar[tuple[str, ...]] = ("compliance_obligations", "compliance_evidence")

    def __init__(self, view: Any, rules: Any = None) -> None:
        super().__init__(view, rules)
        self._by_kind: dict[str, list[Obligation]] | None = None  # cache of obligations
        self._cached_generation = -1
        self._checked = False  # the generation is checked once per batch

    def batch_ended(self) -> None:
        self._checked = False

    def reset(self) -> None:
        super().reset()
        self._by_kind = None

    def create_tables(self) -> None:
        """A store whose compliance was built before it was versioned rebuilds it."""
        create_tables_or_relayout(self, "compliance_obligation_versions", self.unversioned)

    def _generation(self) -> int:
        """Bumped whenever obligations are derived, in whichever process: the cache of
        obligations by kind stays valid until it moves."""
        row = self.model.execute(f"SELECT generation FROM {self.t('compliance_generation')} "
                                 "WHERE name = 'obligations'").fetchone()
        return int(row["generation"]) if row else 0

    def _bump_generation(self) -> None:
        self.model.execute(
            f"INSERT INTO {self.t('compliance_generation')} VALUES ('obligations', 1, NULL) "
            "ON CONFLICT (name) DO UPDATE SET generation = "
            f"{self.t('compliance_generation')}.generation + 1")

    @singledispatchmethod
    def apply(self, domain_event: Any, tracking: Tracking) -> None:
        """Other events do not concern this read model."""

    # -- agreements: (re)derive their obligations ----------------------------------------

    @apply.register
    def _(self, event: Agreement.Registered, tracking: Tracking) -> None:
        snapshot = {"reference": event.reference, "kind": event.kind,
                    "parties": list(event.parties), "signed_on": iso(event.signed_on),
                    "commitments": list(event.commitments), "review_rule": event.review_rule,
                    "terminated_on": None}
        self.model.execute(f"INSERT INTO {self.t('compliance_agreements')} VALUES (?,?,?,?)",
                           (event.reference, str(event.originator_id), dumps(snapshot), "[]"))
        self._derive(event.reference, snapshot, [], tracking.notification_id)

    @apply.register
    def _(self, event: Agreement.CommitmentAdded, tracking: Tracking) -> None:
        self._change(event, tracking, lambda s, r: s["commitments"].append(event.commitment))

    @apply.register
    def _(self, event: Agreement.Revised, tracking: Tracking) -> None:
        def revise(snapshot: dict[str, Any], revisions: list[Any]) -> None:
            for key in ("commitments", "review_rule"):
                if key in event.changes:
                    snapshot[key] = event.changes[key]
            revisions.append([event.originator_version, iso(event.revised_on)])

        self._change(event, tracking, revise)

    @apply.register
    def _(self, event: Agreement.Terminated, tracking: Tracking) -> None:
        self._change(event, tracking,
                     lambda s, r: s.update(terminated_on=iso(event.terminated_on)))

    def _change(self, event: Any, tracking: Tracking, change: Any) -> None:
        table = self.t("compliance_agreements")
        row = self.model.execute(f"SELECT * FROM {table} WHERE agreement_id = ?",
                                 (str(event.originator_id),)).fetchone()
        snapshot, revisions = json.loads(row["snapshot"]), json.loads(row["revisions"])
        change(snapshot, revisions)
        self.model.execute(f"UPDATE {table} SET snapshot = ?, revisions = ? "
                           "WHERE agreement_id = ?",
                           (dumps(snapshot), dumps(revisions), str(event.originator_id)))
        self._derive(row["reference"], snapshot, revisions, tracking.notification_id)

    def _derive(self, reference: str, snapshot: dict[str, Any], revisions: list[Any],
                position: int) -> None:
        """Derive the agreement's obligations again and match them against recorded
        actions; only what differs from the current rows is retired or added."""
        agreement = _snapshot(snapshot)
        commitments = list(agreement.commitments)
        review = review_commitment(agreement)
        if review is not None:
            commitments.append(review)
        obligations = [o for c in commitments for o in self.rules.obligations(agreement, c)]
        self._supersede(OBLIGATIONS, "reference = ?", (reference,), {
            (o.agreement, o.commitment, o.period): (iso(o.start), iso(o.due_on),
                                                     dumps(o.as_dict()))
            for o in obligations}, position)
        kinds = sorted({k for o in obligations for k in o.fulfilled_by})
        evidence: Rows = {}
        for row in self._live_actions(kinds):
            facts = ActionFacts.from_payload(json.loads(row["facts"]))
            evidence.update(self._evidence(row["action_id"], facts, obligations))
        for version, day in revisions:  # a recorded revision fulfils the review
            evidence.update(_revision_evidence(reference, version, date.fromisoformat(day),
                                               obligations))
        self._supersede(EVIDENCE, "reference = ?", (reference,), evidence, position)
        self._bump_generation()
        self._by_kind, self._checked = None, True

    def _live_actions(self, kinds: list[str]) -> Iterator[Any]:
        """Every live action of these kinds, a page at a time. At 1M events a revision
        matches most of history (seconds of Python): read at once, the transaction then
        sat idle past PostgreSQL's idle-in-transaction timeout, which killed the batch,
        and the follower retried it for ever. One kind at a time, so that each page is a
        range of `compliance_actions_kind_live`, not a sort of every match."""
        for kind in kinds:
            after = ""
            while True:
                rows = self.model.execute(
                    f"SELECT action_id, facts FROM {self.t('compliance_actions')} "
                    "WHERE kind = ? AND live = 1 AND action_id > ? "
                    f"ORDER BY action_id LIMIT {LIVE_ACTIONS_PAGE}", (kind, after)).fetchall()
                yield from rows
                if len(rows) < LIVE_ACTIONS_PAGE:
                    break
                after = rows[-1]["action_id"]

    # -- actions: match against the obligations they could fulfil -------------------------

    @apply.register
    def _(self, event: Action.Reported, tracking: Tracking) -> None:
        key = str(event.originator_id)
        facts = ActionFacts.from_payload(event.facts)
        self.buffer(self._insert_action, (key, facts.kind, 1, dumps(event.facts)))
        for row_key, values in self._evidence(key, facts, self._candidates(facts)).items():
            self.buffer(EVIDENCE.insert(self), (*row_key, tracking.notification_id, None,
                                                *values))

    @apply.register
    def _(self, event: Action.Amended, tracking: Tracking) -> None:
        key = str(event.originator_id)
        self.flush()
        table = self.t("compliance_actions")
        row = self.model.execute(f"SELECT facts FROM {table} WHERE action_id = ? AND live = 1",
                                 (key,)).fetchone()
        payload = {**json.loads(row["facts"]), **event.changes}
        facts = ActionFacts.from_payload(payload)
        self.model.execute(f"UPDATE {table} SET kind = ?, facts = ? WHERE action_id = ?",
                           (facts.kind, dumps(payload), key))
        self._supersede(EVIDENCE, "action_id = ?", (key,),
                        self._evidence(key, facts, self._candidates(facts)),
                        tracking.notification_id)

    @apply.register
    def _(self, event: Action.Retracted, tracking: Tracking) -> None:
        self.flush()
        key = str(event.originator_id)
        self.model.execute(f"UPDATE {self.t('compliance_actions')} SET live = 0 "
                           "WHERE action_id = ?", (key,))
        self._supersede(EVIDENCE, "action_id = ?", (key,), {}, tracking.notification_id)

    def _candidates(self, facts: ActionFacts) -> list[Obligation]:
        if not self._checked:
            if self._generation() != self._cached_generation:
                self._by_kind = None
            self._checked = True
        if self._by_kind is None:
            self._by_kind, self._cached_generation = {}, self._generation()
            self.flush()
            for row in self.model.execute(
                    f"SELECT obligation FROM {self.t('compliance_obligation_versions')} "
                    "WHERE valid_to IS NULL").fetchall():
                o = Obligation.from_dict(json.loads(row["obligation"]))
                for kind in o.fulfilled_by:
                    self._by_kind.setdefault(kind, []).append(o)
        start, end = facts.occurred_on.start, facts.occurred_on.end
        return [o for o in self._by_kind.get(facts.kind, ())
                if o.start <= end and o.end >= start and facts.reporting_partner in o.responsible]

    def _evidence(self, action_id: str, facts: ActionFacts,
                  obligations: list[Obligation]) -> Rows:
        """The evidence rows an action gives: one per obligation it fulfils."""
        return {(o.agreement, o.commitment, o.period, action_id):
                (iso(facts.occurred_on.start), iso(facts.occurred_on.end), facts.kind,
                 facts.reporting_partner)
                for o in obligations if self.rules.is_evidence(o, facts)}

    # -- versions ---------------------------------------------------------------------------

    def _supersede(self, kind: Versioned, scope: str, params: tuple[Any, ...], rows: Rows,
                   position: int) -> None:
        """Make `rows` the current rows of `scope` as of `position`: retire the current
        rows that are gone or differ, add those that are new or differ; an unchanged row
        keeps its version."""
        self.flush()
        current = {tuple(r[c] for c in kind.keys): tuple(r[c] for c in kind.values)
                   for r in self.model.execute(
                       f"SELECT {', '.join(kind.keys + kind.values)} FROM {self.t(kind.table)} "
                       f"WHERE {scope} AND valid_to IS NULL", params).fetchall()}
        retired = [(position, *key) for key, values in current.items()
                   if rows.get(key) != values]
        if retired:
            match = " AND ".join(f"{column} = ?" for column in kind.keys)
            self.model.executemany(f"UPDATE {self.t(kind.table)} SET valid_to = ? "
                                   f"WHERE {match} AND valid_to IS NULL", retired)
        for key, values in rows.items():
            if current.get(key) != values:
                self.buffer(kind.insert(self), (*key, position, None, *values))

    @property
    def _insert_action(self) -> str:
        return f"INSERT INTO {self.t('compliance_actions')} VALUES (?,?,?,?)"


Rows = dict[tuple[str, ...], tuple[str, ...]]  # a versioned row: its key -> what it holds


@dataclass(frozen=True)
class Versioned:
    """A versioned table of this read model: the columns that name a row's subject (its
    key) and the columns a version holds. Every row is key, valid_from, valid_to, values."""

    table: str
    keys: tuple[str, ...]
    values: tuple[str, ...]

    def insert(self, model: ReadModel) -> str:
        marks = ",".join("?" * (len(self.keys) + 2 + len(self.values)))
        return f"INSERT INTO {model.t(self.table)} VALUES ({marks})"


OBLIGATIONS = Versioned("compliance_obligation_versions", ("reference", "commitment", "period"),
                        ("start_on", "due_on", "obligation"))
EVIDENCE = Versioned("compliance_evidence_versions",
                     ("reference", "commitment", "period", "action_id"),
                     ("occurred_start", "occurred_end", "kind", "reporting_partner"))


def _revision_evidence(reference: str, version: int, day: date,
                       obligations: list[Obligation]) -> Rows:
    return {(reference, REVIEW, o.period, f"{reference}@v{version}"):
            (iso(day), iso(day), "agreement_revised", "+".join(o.responsible))
            for o in obligations if o.commitment == REVIEW and o.start <= day <= o.end}


def _snapshot(data: dict[str, Any]) -> AgreementSnapshot:
    return AgreementSnapshot(
        reference=data["reference"], kind=data["kind"], parties=tuple(data["parties"]),
        signed_on=date.fromisoformat(data["signed_on"]),
        commitments=tuple(Commitment.from_dict(c) for c in data["commitments"]),
        review_rule=data["review_rule"],
        terminated_on=date.fromisoformat(data["terminated_on"]) if data["terminated_on"]
        else None)
