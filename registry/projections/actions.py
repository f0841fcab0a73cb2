"""Actions read model: who did what, where and when, with every version kept.

Rows are versioned in transaction time (`valid_from`/`valid_to` are global positions), so
the current state is `valid_to IS NULL` and the state as of position P is
`valid_from <= P < coalesce(valid_to, ∞)`: no replay per query.

Lists come in occurred order, so the indexes walk that order and test transaction time on
the way: `action_versions_occurred` for any list (`…_kind_occurred` for one kind), and
each tag's rows (keyed by tag, value, occurred start, action, version, valid_from, then
the version's kind and occurred end, tested in the index) for a list filtered by partner,
country, theme, mechanism or flag. `action_periods` keeps the longest period ever
recorded, which bounds where an occurred range (valid time) must start looking.

Aggregates keep running tallies instead of counting versions: `action_tallies` has a row
each time the number of live actions in a group changes (per theme, per mechanism, per
country, partner and kind), so a group's count as of P is one seek to its last row at or
before P, and an aggregate costs a seek per group, however long the history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from registry.domain import Action
from registry.domain.action import confirmation
from registry.projections.base import ReadModel, dumps, iso
from registry.projections.layout import create_tables_or_relayout

TAGS = ("partner", "counterpart", "country", "theme", "mechanism")
STANDINGS = [(status, confirmation) for status in ("reported", "retracted")
             for confirmation in ("claimed", "acknowledged", "disputed")]
COUNTED = [f"{status}_{confirmation}" for status, confirmation in STANDINGS]
LONGEST = "SELECT longest_days FROM {table} WHERE name = 'actions'"
VALID_TO = 3  # index of valid_to in a version row


class ActionsProjection(ReadModel):
    name = "actions"
    topics = tuple(get_topic(e) for e in (Action.Reported, Action.Amended, Action.Retracted,
                                          Action.Acknowledged, Action.Disputed))
    tables: ClassVar[dict[str, str]] = {
        "action_versions": """
            action_id TEXT NOT NULL, version INTEGER NOT NULL, valid_from BIGINT NOT NULL,
            valid_to BIGINT, event TEXT NOT NULL, status TEXT NOT NULL,
            reporting_partner TEXT NOT NULL, kind TEXT NOT NULL,
            occurred_start TEXT NOT NULL, occurred_end TEXT NOT NULL,
            agreement TEXT, commitment TEXT, facts TEXT NOT NULL, changes TEXT,
            reason TEXT, findings TEXT NOT NULL, recorded_at TEXT NOT NULL,
            recorded_by TEXT NOT NULL, first_recorded_at TEXT NOT NULL,
            confirmation TEXT NOT NULL, responses TEXT NOT NULL,
            PRIMARY KEY (action_id, version)""",
        # kind and occurred_end end the key so that a walk tests them in the index: a
        # partner's rows of other kinds, or rows that ended before an occurred range, are
        # passed over without reading their version (see ActionPlan.drive_by_tag)
        "action_tags": """
            tag TEXT NOT NULL, value TEXT NOT NULL, occurred_start TEXT NOT NULL,
            action_id TEXT NOT NULL, version INTEGER NOT NULL, valid_from BIGINT NOT NULL,
            kind TEXT NOT NULL, occurred_end TEXT NOT NULL,
            PRIMARY KEY (tag, value, occurred_start, action_id, version, valid_from, kind,
                         occurred_end)""",
        "action_periods": """
            name TEXT NOT NULL, longest_days INTEGER NOT NULL, PRIMARY KEY (name)""",
        "action_tally_groups": """
            tally TEXT NOT NULL, scope TEXT NOT NULL, subject TEXT NOT NULL,
            detail TEXT NOT NULL, group_id BIGINT NOT NULL, since BIGINT NOT NULL,
            live BIGINT NOT NULL, PRIMARY KEY (tally, scope, subject, detail)""",
        "action_tallies": """
            group_id BIGINT NOT NULL, position BIGINT NOT NULL, live BIGINT NOT NULL,
            PRIMARY KEY (group_id, position)""",
        "action_counts": "position BIGINT NOT NULL, "
                         + ", ".join(f"{column} BIGINT NOT NULL" for column in COUNTED)
                         + ", PRIMARY KEY (position)",
    }
    indexes: ClassVar[list[str]] = [
        "CREATE INDEX IF NOT EXISTS action_versions_current ON {action_versions} "
        "(valid_to, occurred_start, action_id)",
        "CREATE INDEX IF NOT EXISTS action_versions_occurred ON {action_versions} "
        "(occurred_start, action_id, valid_from, valid_to)",
        "CREATE INDEX IF NOT EXISTS action_versions_from ON {action_versions} (valid_from)",
        "CREATE INDEX IF NOT EXISTS action_versions_kind_occurred ON {action_versions} "
        "(kind, occurred_start, action_id, valid_from, valid_to)",
        # a group's count as of P from the index alone (SQLite otherwise also reads the row)
        "CREATE INDEX IF NOT EXISTS action_tallies_live ON {action_tallies} "
        "(group_id, position, live)",
    ]  # a tag filter walks action_tags' primary key alone, in occurred order

    def create_tables(self) -> None:
        """A store built before the tag rows had their version's kind and end (or before
        the tallies were kept) rebuilds this model."""
        create_tables_or_relayout(self, ("action_tally_groups.live", "action_tags.occurred_end"))

    def __init__(self, view: Any, rules: Any = None) -> None:
        super().__init__(view, rules)
        self.insert_version = (f"INSERT INTO {self.t('action_versions')} VALUES "
                               "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
        self.insert_tag = f"INSERT INTO {self.t('action_tags')} VALUES (?,?,?,?,?,?,?,?)"
        self.open_rows: dict[str, list[Any]] = {}  # rows buffered in this batch, by action
        self.longest: int | None = None  # days; read once per batch (another process writes)
        self.longer = False  # a period longer than any before was recorded in this batch
        self.counts: list[int] | None = None  # current actions by standing, as of the batch
        self.insert_counts = (f"INSERT INTO {self.t('action_counts')} VALUES "
                              f"({','.join('?' * (len(COUNTED) + 1))})")
        self.tallies: dict[Group, list[int]] = {}  # group id and live actions, this batch
        self.touched: set[Group] = set()  # groups whose current count is to be written
        self.every_group = False  # `tallies` holds every stored group: a miss is a new one
        self.insert_tally = f"INSERT INTO {self.t('action_tallies')} VALUES (?,?,?)"
        self.insert_group = f"INSERT INTO {self.t('action_tally_groups')} VALUES (?,?,?,?,?,?,?)"
        self.update_group = (f"UPDATE {self.t('action_tally_groups')} SET live = ? "
                             "WHERE tally = ? AND scope = ? AND subject = ? AND detail = ?")

    def batch_started(self, notifications: int) -> None:
        """A large batch reads every group at once: one query, instead of one per group
        it meets (on PostgreSQL a round trip each, most of a replay's time)."""
        if notifications >= READ_ALL_GROUPS_FROM:
            self.tallies = {
                (r["tally"], r["scope"], r["subject"], r["detail"]):
                    [int(r["group_id"]), int(r["live"])]
                for r in self.model.execute(
                    "SELECT tally, scope, subject, detail, group_id, live "
                    f"FROM {self.t('action_tally_groups')}").fetchall()}
            self.every_group = True

    def batch_ended(self) -> None:
        self.open_rows.clear()
        self.tallies.clear()  # another process may add to them between batches
        self.touched.clear()
        self.every_group = False
        self.longest, self.longer, self.counts = None, False, None

    def _count(self, was: tuple[str, str] | None, now: tuple[str, str], position: int) -> None:
        """The running count of current actions by (status, confirmation), one row per
        action event: a summary, now or as of any position, is one look-up."""
        if self.counts is None:
            row = self.model.execute(f"SELECT * FROM {self.t('action_counts')} "
                                     "ORDER BY position DESC LIMIT 1").fetchone()
            self.counts = [int(row[c]) for c in COUNTED] if row else [0] * len(COUNTED)
        if was is not None:
            self.counts[STANDINGS.index(was)] -= 1
        self.counts[STANDINGS.index(now)] += 1
        self.buffer(self.insert_counts, (position, *self.counts))

    def _tally(self, before: frozenset[Group], after: frozenset[Group], position: int) -> None:
        """Record the new count of every group the action joined or left. A group's id is
        the position that created it and its ordinal there: the same in every rebuild, and
        a small integer key that seeks far faster than the four texts."""
        created = 0
        for group in sorted(before ^ after):
            tally = self.tallies.get(group)
            if tally is None and not self.every_group:
                tally = self._stored_tally(group)
            if tally is None:
                tally = [group_id(position, created), 0]
                created += 1
                self.buffer(self.insert_group, (*group, tally[0], position, 0))
            tally[1] += 1 if group in after else -1
            self.tallies[group] = tally
            self.touched.add(group)
            self.buffer(self.insert_tally, (tally[0], position, tally[1]))

    def _stored_tally(self, group: Group) -> list[int] | None:
        row = self.model.execute(
            f"SELECT group_id, live FROM {self.t('action_tally_groups')} WHERE tally = ? "
            "AND scope = ? AND subject = ? AND detail = ?", group).fetchone()
        return None if row is None else [int(row["group_id"]), int(row["live"])]

    def flush(self) -> None:
        super().flush()
        if self.touched:  # each group's current count, once per batch: read now, not sought
            self.model.executemany(self.update_group, [(self.tallies[g][1], *g)
                                                       for g in sorted(self.touched)])
            self.touched.clear()
        if self.longer:
            table = self.t("action_periods")
            self.model.execute(
                f"INSERT INTO {table} VALUES ('actions', ?) ON CONFLICT (name) DO UPDATE SET "
                f"longest_days = CASE WHEN excluded.longest_days > {table}.longest_days "
                f"THEN excluded.longest_days ELSE {table}.longest_days END", (self.longest,))
            self.longer = False

    def _measure(self, start: str, end: str) -> None:
        if self.longest is None:
            row = self.model.execute(LONGEST.format(table=self.t("action_periods"))).fetchone()
            self.longest = int(row["longest_days"]) if row else 0
        if start != end:
            days = (date.fromisoformat(end) - date.fromisoformat(start)).days
            if days > self.longest:
                self.longest, self.longer = days, True

    @singledispatchmethod
    def apply(self, domain_event: Any, tracking: Tracking) -> None:
        """Other events do not concern this read model."""

    @apply.register
    def _(self, event: Action.Reported, tracking: Tracking) -> None:
        self._insert(event, tracking, "reported", Current(event.facts, "reported",
                                                          iso(event.timestamp), {}),
                     changes=None, reason=None)

    @apply.register
    def _(self, event: Action.Amended, tracking: Tracking) -> None:
        now = self._close(event, tracking)
        now.facts = {**now.facts, **event.changes}
        now.responses = {}  # the partners named confirmed the earlier claim, not this one
        self._insert(event, tracking, "amended", now, changes=event.changes,
                     reason=event.reason)

    @apply.register
    def _(self, event: Action.Retracted, tracking: Tracking) -> None:
        now = self._close(event, tracking)
        now.status = "retracted"
        self._insert(event, tracking, "retracted", now, changes=None, reason=event.reason)

    @apply.register
    def _(self, event: Action.Acknowledged, tracking: Tracking) -> None:
        now = self._close(event, tracking)
        now.responses[event.partner] = {"response": "acknowledged", "text": event.note}
        self._insert(event, tracking, "acknowledged", now, changes=None, reason=event.note)

    @apply.register
    def _(self, event: Action.Disputed, tracking: Tracking) -> None:
        now = self._close(event, tracking)
        now.responses[event.partner] = {"response": "disputed", "text": event.reason}
        self._insert(event, tracking, "disputed", now, changes=None, reason=event.reason)

    def _close(self, event: Any, tracking: Tracking) -> Current:
        """End the current version at this position; answer what it held."""
        key = str(event.originator_id)
        row = self.open_rows.get(key)
        if row is not None:  # still in this batch's buffer
            row[VALID_TO] = tracking.notification_id
            facts = json.loads(row[12])
            return Current(facts, row[5], row[18], json.loads(row[20]), (row[5], row[19]),
                           groups(facts, row[5]))
        table = self.t("action_versions")
        # The current version is the latest. Both are read by primary key: given
        # `valid_to IS NULL`, SQLite and PostgreSQL chose the index of current versions and
        # scanned every current action, per amendment (a catch-up that slowed with history).
        found = self.model.execute(
            f"SELECT version, facts, status, first_recorded_at, responses, confirmation "
            f"FROM {table} WHERE action_id = ? ORDER BY version DESC LIMIT 1",
            (key,)).fetchone()
        self.model.execute(f"UPDATE {table} SET valid_to = ? WHERE action_id = ? "
                           "AND version = ?", (tracking.notification_id, key, found["version"]))
        facts = json.loads(found["facts"])
        return Current(facts, found["status"], found["first_recorded_at"],
                       json.loads(found["responses"]), (found["status"], found["confirmation"]),
                       groups(facts, found["status"]))

    def _insert(self, event: Any, tracking: Tracking, kind: str, now: Current, *,
                changes: dict[str, Any] | None, reason: str | None) -> None:
        facts, status, first_recorded_at = now.facts, now.status, now.first_recorded_at
        counterparts = tuple(p for p in facts["partners"] if p != facts["reporting_partner"])
        key, version = str(event.originator_id), event.originator_version
        occurred = facts["occurred_on"]
        start, end = iso(occurred["start"]), iso(occurred["end"])
        self._measure(start, end)
        findings = event.evaluation.get("findings", [])
        row = [key, version, tracking.notification_id, None, kind, status,
               facts["reporting_partner"], facts["kind"], start, end,
               facts.get("agreement"), facts.get("commitment"),
               dumps(facts), dumps(changes) if changes is not None else None, reason,
               dumps(findings) if findings else "[]", iso(event.timestamp),
               event.recorded_by, first_recorded_at,
               confirmation(counterparts, now.responses),
               dumps(now.responses) if now.responses else "{}"]
        self.open_rows[key] = row
        self.buffer(self.insert_version, row)
        self._count(now.was, (status, row[19]), tracking.notification_id)
        self._tally(now.groups, groups(facts, status), tracking.notification_id)
        self.buffer_many(self.insert_tag, [(tag, value, start, key, version,
                                            tracking.notification_id, facts["kind"], end)
                                           for tag, value in _tags(facts) + _flags(findings)])


@dataclass
class Current:
    """What the current version of an action holds, while the next one is built."""

    facts: dict[str, Any]
    status: str
    first_recorded_at: str
    responses: dict[str, dict[str, str]]
    was: tuple[str, str] | None = None  # (status, confirmation) of the version it replaces
    groups: frozenset[Group] = frozenset()  # the groups the replaced version counted in


Group = tuple[str, str, str, str]  # (tally, scope, subject, detail) of a tally group
GROUPS_PER_EVENT = 1 << 20  # group ids: position * this + ordinal (one event's groups)


def group_id(position: int, ordinal: int) -> int:
    """The id of the `ordinal`-th group first met by the event at `position`."""
    return position * GROUPS_PER_EVENT + ordinal
READ_ALL_GROUPS_FROM = 100  # notifications in a batch


def groups(facts: dict[str, Any], status: str) -> frozenset[Group]:
    """The tallies a version counts in: none once retracted; each theme and mechanism; and
    each (country, partner involved, kind), scoped by country (one seek finds them)."""
    if status == "retracted":
        return frozenset()
    kind, partners = facts["kind"], set(facts["partners"])
    found = {("where", country, partner, kind)
             for country in facts.get("countries", ()) for partner in partners}
    found.update(("theme", "", theme, "") for theme in facts.get("themes", ()))
    found.update(("mechanism", "", mechanism, "") for mechanism in facts.get("mechanisms", ()))
    return frozenset(found)


def _flags(findings: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Findings that relate this action to others (possible duplication) are flags."""
    return sorted({("flag", f["rule"]) for f in findings if f.get("related")})


def _tags(facts: dict[str, Any]) -> list[tuple[str, str]]:
    reporting = facts["reporting_partner"]
    tags = [("partner", p) for p in facts["partners"]]
    tags += [("counterpart", p) for p in facts["partners"] if p != reporting]
    tags += [("country", v) for v in facts.get("countries", ())]
    tags += [("theme", v) for v in facts.get("themes", ())]
    tags += [("mechanism", v) for v in facts.get("mechanisms", ())]
    return sorted(set(tags))
