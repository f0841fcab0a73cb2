"""Queries over the read models. Every query can be asked as of a past global position
(transaction time; a recorded time is first resolved to a position by the clock) and, for
actions, over an occurred period (valid time); compliance on a date (valid time)."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from registry.projections.actions import COUNTED, LONGEST, STANDINGS, TAGS
from registry.projections.clock import Clock, Moment
from registry.rules import STATUSES, Evidence, Obligation
from registry.store import Sql


@dataclass(frozen=True)
class ActionFilter:
    partner: str | None = None
    counterpart: str | None = None
    country: str | None = None
    kind: str | None = None
    theme: str | None = None
    mechanism: str | None = None
    agreement: str | None = None
    occurred_from: date | None = None
    occurred_to: date | None = None
    include_retracted: bool = True


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


Q = TypeVar("Q", bound=Callable[..., Any])

EARLY = 2000  # as of a position this early, at most this many versions exist
DRIVERS = ("flag", "country", "mechanism", "theme", "counterpart", "partner")  # rarest first


class ActionPlan:
    """The SQL of one page of actions, built clause by clause. `o` is the alias whose
    (occurred_start, action_id) the page is ordered by: the index being walked."""

    def __init__(self, sql: Sql, where: ActionFilter) -> None:
        self.db, self.where = sql, where
        self.source, self.o = f"{sql.table('action_versions')} v", "v"
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params += params

    def drive_by_tag(self, tag: str, value: str | None, as_of: int | None) -> None:
        """Walk the tag's rows in occurred order (tag, value, occurred_start, action_id),
        each checked as of `as_of` by its valid_from (in the index) and its version's
        valid_to (one primary-key look-up). The kind and the occurred end are tested on
        the tag row, in the index, before that look-up (see `filter`)."""
        self.source = tagged_versions(self.db, "d")
        self.o = "d"
        self.add("d.tag = ?", tag)
        if value is not None:
            self.add("d.value = ?", value)
        if as_of is None:
            self.add("v.valid_to IS NULL")
        else:
            self.add("d.valid_from <= ? AND (v.valid_to IS NULL OR v.valid_to > ?)", as_of,
                     as_of)

    def walk_versions(self, as_of: int | None, early: bool) -> None:
        """Now: the current versions in occurred order. As of a position: every version in
        occurred order, valid_from and valid_to checked in the index; as of an early one,
        the few versions begun by then, sorted. (SQLite is told which index: left to
        itself it picks one whatever the position.)"""
        if as_of is None:
            self.add("v.valid_to IS NULL")
            return
        if not self.db.postgres and (early or self.where.kind is None):
            index = "action_versions_from" if early else "action_versions_occurred"
            self.source += f" INDEXED BY {index}"  # one kind: its own index, which it picks
        self.add("v.valid_from <= ? AND (v.valid_to IS NULL OR v.valid_to > ?)", as_of, as_of)

    def has_tag(self, tag: str, value: str | None) -> None:
        """A further tag: one look-up of the version's row for it (the key has its date)."""
        match = " AND t.value = ?" if value is not None else ""
        self.add(f"EXISTS (SELECT 1 FROM {self.db.table('action_tags')} t WHERE t.tag = ?"
                 f"{match} AND t.occurred_start = v.occurred_start AND t.action_id = "
                 "v.action_id AND t.version = v.version)",
                 *((tag, value) if value is not None else (tag,)))

    def filter(self, longest_days: int) -> None:
        """Valid time and the version's own columns. An action that occurred in a range
        began at most the longest period ever recorded before the range starts.

        The kind and the occurred end are read from the walked index when it holds them
        (a tag row carries its version's): a page of one partner's actions of one kind
        read the version of every row of the partner's other kinds (a dozen per match),
        and a range read the version of every row begun within the longest period before
        it, as many as were recorded in those days; each read a random page of a table
        that outgrows the cache. At 1M events they took twice as long as at 10k."""
        where, o = self.where, self.o
        for column, value in (("kind", where.kind), ("agreement", where.agreement)):
            if value is not None:
                self.add(f"{o if column == 'kind' else 'v'}.{column} = ?", value)
        if where.occurred_from is not None:
            earliest = where.occurred_from - timedelta(days=longest_days)
            self.add(f"{o}.occurred_start >= ? AND {o}.occurred_end >= ?",
                     earliest.isoformat(), where.occurred_from.isoformat())
        if where.occurred_to is not None:
            self.add(f"{o}.occurred_start <= ?", where.occurred_to.isoformat())
        if not where.include_retracted:
            self.add("v.status <> 'retracted'")

    def after(self, start: str, action_id: str) -> None:
        """Resume after a cursor: a row value, which both dialects seek in the index."""
        self.add(f"({self.o}.occurred_start, {self.o}.action_id) > (?, ?)", start, action_id)

    def sql(self, limit: int) -> tuple[str, list[Any]]:
        """The statement and its parameters, for at most `limit` rows."""
        return (f"SELECT v.* FROM {self.source} WHERE {' AND '.join(self.clauses)} "
                f"ORDER BY {self.o}.occurred_start, {self.o}.action_id LIMIT ?",
                [*self.params, limit])


def tagged_versions(sql: Sql, tags: str) -> str:
    """Tag rows (alias `tags`), each joined to its version (alias `v`) by primary key. On
    PostgreSQL, OFFSET 0 keeps that look-up: a store not yet analyzed looked small to the
    planner, which scanned a kind's versions once per tag row (150 ms for a page at 10k)."""
    versions = sql.table("action_versions")
    if sql.postgres:
        return (f"{sql.table('action_tags')} {tags} CROSS JOIN LATERAL (SELECT * FROM "
                f"{versions} v WHERE v.action_id = {tags}.action_id AND "
                f"v.version = {tags}.version OFFSET 0) v")
    return (f"{sql.table('action_tags')} {tags} JOIN {versions} v "
            f"ON v.action_id = {tags}.action_id AND v.version = {tags}.version")


def _as_of(alias: str, as_of: int | None) -> tuple[str, list[Any]]:
    if as_of is None:
        return f"{alias}.valid_to IS NULL", []
    return (f"{alias}.valid_from <= ? AND ({alias}.valid_to IS NULL OR {alias}.valid_to > ?)",
            [as_of, as_of])


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """A cursor is what `encode_cursor` made: a list of two strings (a date and an id)."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        values = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        values = None
    if not (isinstance(values, list) and len(values) == 2
            and all(isinstance(v, str) for v in values)):
        from registry.domain import invalid

        raise invalid("cursor", "query.cursor", "not a cursor this registry issued")
    return values


def one_view(query: Q) -> Q:
    """A query of several statements reads them from one snapshot (`Sql.snapshot`):
    e.g. the longest period and the rows it bounds, or an agreement and its evidence."""

    @functools.wraps(query)
    def read(self: Queries, *args: Any, **kwargs: Any) -> Any:
        with self.sql.snapshot():
            return query(self, *args, **kwargs)

    return read  # type: ignore[return-value]


class Queries:
    def __init__(self, sql: Sql, rules: Any = None) -> None:
        self.sql = sql
        self.rules = rules
        self.clock = Clock(sql)

    # -- transaction time ---------------------------------------------------------------

    def position(self) -> int:
        """The last position the read models have applied."""
        return self.clock.position()

    def position_at(self, moment: datetime) -> int:
        """The greatest position the registry had reached at a recorded time (0 before
        the first event)."""
        return self.clock.position_at(moment)

    def resolve(self, as_of: Moment | None) -> int | None:
        """The position to query `as_of`: a recorded time becomes the position reached by
        then; a position stays as given; None (now) stays None."""
        return self.clock.resolve(as_of)

    def answered_as_of(self, as_of: int | None) -> int:
        """The position an answer `as_of` reflects: `as_of` itself, or the read models'
        position when they have not reached it (or when `as_of` is None, now)."""
        reached = self.position()
        return reached if as_of is None else min(as_of, reached)

    @one_view
    def similar_actions(self, facts: Any, *, as_of: int | None = None, limit: int = 20,
                        reported_by: str | None = None) -> list[dict[str, Any]]:
        """Live actions of the same kind, overlapping in time, reported by someone else
        (by `reported_by` only, if given): the candidates plugins look at for duplication,
        earliest first.

        One walk of the kind's occurred-order index that stops at `limit`. On SQLite the
        `+` keeps the planner off the index of current versions, which it preferred and
        which holds every kind: each report looked up every action begun in the window, a
        number that grows with history (0.26 ms a call at 100k events; 0.05 ms this way).
        PostgreSQL already walks the kind's index, testing `valid_to` in it (0.035 ms)."""
        if reported_by is not None:
            return self._similar_reported_by(facts, reported_by, as_of, limit)
        live = "v.valid_to IS NULL" if self.sql.postgres else "+v.valid_to IS NULL"
        clause, params = _as_of("v", as_of) if as_of is not None else (live, [])
        start, end = facts.occurred_on.start, facts.occurred_on.end
        earliest = start - timedelta(days=self._longest_period())  # bounds the index range
        rows = self.sql.all(
            f"SELECT * FROM {self.sql.table('action_versions')} v WHERE v.kind = ? AND "
            f"{clause} AND v.status <> 'retracted' AND v.reporting_partner <> ? "
            "AND v.occurred_start >= ? AND v.occurred_start <= ? AND v.occurred_end >= ? "
            "ORDER BY v.occurred_start, v.action_id LIMIT ?",
            (facts.kind, *params, facts.reporting_partner, earliest.isoformat(),
             end.isoformat(), start.isoformat(), limit))
        return [_action(row) for row in rows]

    def _similar_reported_by(self, facts: Any, partner: str, as_of: int | None,
                             limit: int) -> list[dict[str, Any]]:
        """`similar_actions` of one reporting partner: a walk of that partner's tag rows
        of the kind, in occurred order. Filtering the first `limit` candidates of every
        partner instead missed 180 of 819 DESA/OHCHR duplicates at 1M events, where a
        kind has a dozen actions a day; and this walk reads only the partner's versions
        (0.07 ms a call there, against 0.19 ms)."""
        if partner == facts.reporting_partner:
            return []
        where = ActionFilter(partner=partner, kind=facts.kind,
                             occurred_from=facts.occurred_on.start,
                             occurred_to=facts.occurred_on.end, include_retracted=False)
        plan = ActionPlan(self.sql, where)
        plan.drive_by_tag("partner", partner, as_of)
        plan.filter(self._longest_period())
        plan.add("v.reporting_partner = ?", partner)
        return [_action(row) for row in self.sql.all(*plan.sql(limit))]

    # -- actions ----------------------------------------------------------------------

    @one_view
    def actions(self, where: ActionFilter = ActionFilter(), *, as_of: int | None = None,
                limit: int = 100, cursor: str | None = None) -> Page:
        tags = [(tag, getattr(where, tag)) for tag in TAGS if getattr(where, tag) is not None]
        rows = self._action_rows(where, tags, as_of, limit + 1, cursor)
        return _page([_action(row) for row in rows], limit)

    def _action_rows(self, where: ActionFilter, tags: list[tuple[str, str | None]],
                     as_of: int | None, limit: int, cursor: str | None) -> list[dict[str, Any]]:
        """Actions matching `where` and every tag, in occurred order, resuming after
        `cursor`. One index is walked in that order and transaction time is tested on the
        way: a tag's own rows when there is a tag (the rarest kind drives), else the
        versions' occurred-order index. As of a position so early that few rows exist,
        those few are read by `valid_from` and sorted instead."""
        plan = ActionPlan(self.sql, where)
        early = as_of is not None and as_of <= EARLY
        drive = min(tags, key=lambda t: (t[1] is not None, DRIVERS.index(t[0])), default=None)
        if early and drive is not None and drive[1] is not None:
            drive = None  # a tag with its value is one look-up per version: few versions yet
        if drive is not None:
            plan.drive_by_tag(*drive, as_of)
        else:
            plan.walk_versions(as_of, early)
        for tag, value in tags:
            if (tag, value) != drive:
                plan.has_tag(tag, value)
        plan.filter(self._longest_period())
        if cursor:
            plan.after(*decode_cursor(cursor))
        return self.sql.all(*plan.sql(limit))

    def _longest_period(self) -> int:
        """Days: the longest period any recorded action claimed to last."""
        row = self.sql.one(LONGEST.format(table=self.sql.table("action_periods")))
        return int(row["longest_days"]) if row else 0

    def action(self, action_id: str, *, as_of: int | None = None) -> dict[str, Any] | None:
        """The action as of a position, with every version recorded up to then. Its few
        versions are read by key and cut in Python: given `valid_from <= ?` too,
        PostgreSQL also scanned the (valid_from) index, every version begun by then."""
        rows = [row for row in self.sql.all(
            f"SELECT * FROM {self.sql.table('action_versions')} WHERE action_id = ? "
            "ORDER BY version", [action_id]) if as_of is None or row["valid_from"] <= as_of]
        if not rows:
            return None
        current = _action(rows[-1])
        current["history"] = [_version(row) for row in rows]
        return current

    # -- agreements and partners --------------------------------------------------------

    def agreements(self, *, partner: str | None = None, as_of: int | None = None
                   ) -> list[dict[str, Any]]:
        clause, params = _as_of("v", as_of)
        if partner is not None:
            clause += (f" AND v.reference IN (SELECT reference FROM "
                       f"{self.sql.table('agreement_parties')} WHERE partner = ?)")
            params.append(partner)
        rows = self.sql.all(f"SELECT * FROM {self.sql.table('agreement_versions')} v "
                            f"WHERE {clause} ORDER BY v.signed_on, v.reference", params)
        return [_agreement(row) for row in rows]

    def agreement(self, reference: str, *, as_of: int | None = None) -> dict[str, Any] | None:
        limit_clause, params = ("", []) if as_of is None else ("AND valid_from <= ?", [as_of])
        rows = self.sql.all(
            f"SELECT * FROM {self.sql.table('agreement_versions')} WHERE reference = ? "
            f"{limit_clause} ORDER BY version", [reference, *params])
        if not rows:
            return None
        current = _agreement(rows[-1])
        current["history"] = [_version(row) for row in rows]
        return current

    def partners(self, *, as_of: int | None = None) -> list[dict[str, Any]]:
        clause, params = _as_of("v", as_of)
        rows = self.sql.all(f"SELECT * FROM {self.sql.table('partner_versions')} v "
                            f"WHERE {clause} ORDER BY v.partner_id", params)
        return [_partner(row) for row in rows]

    def partner(self, partner_id: str, *, as_of: int | None = None) -> dict[str, Any] | None:
        return next((p for p in self.partners(as_of=as_of) if p["id"] == partner_id), None)

    # -- insights -----------------------------------------------------------------------

    def who_did_what_where(self, *, country: str | None = None,
                           as_of: int | None = None) -> list[dict[str, Any]]:
        """Per country, per partner involved, how many live actions of each kind: the
        tallies of the country's (partner, kind) groups (see `_tallies`)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for country_, partner, kind, live in self._tallies("where", country, as_of):
            out.setdefault(country_, {}).setdefault(partner, {})[kind] = live
        return [{"country": c, "partners": [{"partner": p, "kinds": dict(sorted(k.items()))}
                                             for p, k in sorted(partners.items())]}
                for c, partners in sorted(out.items())]

    @one_view
    def activity(self, tag: str, *, as_of: int | None = None) -> list[dict[str, Any]]:
        """Live actions per theme or per mechanism, with when the first began and the last
        ended: the count from the value's running tally, the dates from short walks of
        its tag rows in occurred order (see `_occurred_bounds`)."""
        longest = self._longest_period()
        found = []
        for _, value, _, live in self._tallies(tag, "", as_of):
            first, last = self._occurred_bounds(tag, value, as_of, longest)
            found.append({tag: value, "actions": live, "first_occurred": first,
                          "last_occurred": last})
        return found

    def _tallies(self, tally: str, scope: str | None, as_of: int | None
                 ) -> list[tuple[str, str, str, int]]:
        """(scope, subject, detail, live actions) of every group of a tally (of one scope,
        if given) with live actions at the position, in that order: the groups' own rows
        now, and as of a position one seek per group to its last tally row by then."""
        groups, of_scope = self.sql.table("action_tally_groups"), " AND g.scope = ?"
        where = f"g.tally = ?{'' if scope is None else of_scope}"
        params = [tally, *([] if scope is None else [scope])]
        if as_of is None:  # each group's current count is kept on its row
            rows = self.sql.all(f"SELECT g.scope, g.subject, g.detail, g.live FROM {groups} g "
                                f"WHERE {where} AND g.live > 0", params)
        else:
            rows = self.sql.all(
                f"SELECT g.scope, g.subject, g.detail, (SELECT t.live "
                f"FROM {self.sql.table('action_tallies')} t WHERE t.group_id = g.group_id "
                "AND t.position <= ? ORDER BY t.position DESC LIMIT 1) AS live "
                f"FROM {groups} g WHERE {where} AND g.since <= ?", [as_of, *params, as_of])
        return sorted((r["scope"], r["subject"], r["detail"], int(r["live"]))
                      for r in rows if r["live"])

    def _occurred_bounds(self, tag: str, value: str, as_of: int | None,
                         longest: int) -> tuple[str | None, str | None]:
        """When the first live action with the tag began and the last ended. The tag's
        rows lie in occurred-start order: the first live one from each end gives the first
        start and the latest start S; a later end can only belong to a live action that
        began after S minus the longest period ever recorded."""
        clause, params = _as_of("v", as_of)
        if as_of is not None:  # tested in the index before the join: as of an early
            clause, params = f"t.valid_from <= ? AND {clause}", [as_of, *params]  # P, most fail
        rows = (f"FROM {tagged_versions(self.sql, 't')} WHERE t.tag = ? AND t.value = ? "
                f"AND {clause} AND v.status <> 'retracted'")
        first = self.sql.one(f"SELECT v.occurred_start AS day {rows} "
                             "ORDER BY t.occurred_start LIMIT 1", [tag, value, *params])
        latest = self.sql.one(f"SELECT v.occurred_start AS day {rows} "
                              "ORDER BY t.occurred_start DESC LIMIT 1", [tag, value, *params])
        if first is None or latest is None:
            return None, None
        earliest = (date.fromisoformat(latest["day"]) - timedelta(days=longest)).isoformat()
        last = self.sql.one(f"SELECT MAX(v.occurred_end) AS day {rows} "
                            "AND t.occurred_start >= ?", [tag, value, *params, earliest])
        return first["day"], last["day"] if last else None

    @one_view
    def flagged(self, *, rule: str | None = None, as_of: int | None = None,
                limit: int = 100, cursor: str | None = None) -> Page:
        """Live actions a plugin related to others (e.g. possible duplication): for each
        flagging rule (few), a walk of its rows in occurred order; the walks merged."""
        live, found = ActionFilter(include_retracted=False), {}
        for flag in [rule] if rule else self._flag_rules():
            for row in self._action_rows(live, [("flag", flag)], as_of, limit + 1, cursor):
                found.setdefault(row["action_id"], row)
        rows = sorted(found.values(), key=lambda r: (r["occurred_start"], r["action_id"]))
        return _page([_action(row) for row in rows[:limit + 1]], limit)

    def _flag_rules(self) -> list[str]:
        """Every rule that ever flagged an action: one index seek per rule (a loose index
        scan), not a walk over every flagged version."""
        tags = self.sql.table("action_tags")
        return [r["value"] for r in self.sql.all(
            f"WITH RECURSIVE rules(value) AS (SELECT MIN(value) FROM {tags} WHERE tag = 'flag' "
            f"UNION ALL SELECT (SELECT MIN(t.value) FROM {tags} t WHERE t.tag = 'flag' AND "
            "t.value > rules.value) FROM rules WHERE rules.value IS NOT NULL) "
            "SELECT value FROM rules WHERE value IS NOT NULL")]

    @one_view
    def summary(self, *, as_of: int | None = None) -> dict[str, Any]:
        """Counts of partners, agreements and actions, actions by status and (the live
        ones) by confirmation: the actions' running count at the position, one look-up."""
        standings = self._standings(as_of)
        by_status: dict[str, int] = {}
        by_confirmation: dict[str, int] = {}
        for (status, confirmation), n in standings.items():
            if n:
                by_status[status] = by_status.get(status, 0) + n
                if status != "retracted":
                    by_confirmation[confirmation] = by_confirmation.get(confirmation, 0) + n
        return {**self.counts(as_of=as_of, standings=standings),
                "actions_by_status": by_status, "actions_by_confirmation": by_confirmation}

    def _standings(self, as_of: int | None) -> dict[tuple[str, str], int]:
        """How many actions stood reported or retracted, claimed, acknowledged or disputed,
        at a position (now by default)."""
        where, params = ("", []) if as_of is None else ("WHERE position <= ? ", [as_of])
        row = self.sql.one(f"SELECT * FROM {self.sql.table('action_counts')} {where}"
                           "ORDER BY position DESC LIMIT 1", params)
        return {standing: int(row[column]) if row else 0
                for standing, column in zip(STANDINGS, COUNTED, strict=True)}

    # -- compliance ---------------------------------------------------------------------

    @one_view
    def compliance(self, reference: str, *, on: date, as_of: int | None = None
                   ) -> dict[str, Any] | None:
        """Each obligation of the agreement that had begun by `on`, judged as of `on`
        (valid time) from the evidence that had occurred by then, as the registry showed
        it at position `as_of` (transaction time; default now)."""
        if self.agreement(reference, as_of=as_of) is None:
            return None
        clause, params = _as_of("o", as_of)
        rows = self.sql.all(
            f"SELECT o.obligation FROM {self.sql.table('compliance_obligation_versions')} o "
            f"WHERE o.reference = ? AND o.start_on <= ? AND {clause} "
            "ORDER BY o.commitment, o.start_on", (reference, on.isoformat(), *params))
        evidence: dict[tuple[str, str], list[Evidence]] = {}
        clause, params = _as_of("e", as_of)
        for row in self.sql.all(
                f"SELECT * FROM {self.sql.table('compliance_evidence_versions')} e "
                f"WHERE e.reference = ? AND e.occurred_start <= ? AND {clause} "
                "ORDER BY e.occurred_start, e.action_id", (reference, on.isoformat(), *params)):
            evidence.setdefault((row["commitment"], row["period"]), []).append(Evidence(
                row["action_id"], row["kind"], row["reporting_partner"],
                date.fromisoformat(row["occurred_start"]),
                date.fromisoformat(row["occurred_end"])))
        obligations = []
        for row in rows:
            obligation = Obligation.from_dict(json.loads(row["obligation"]))
            found = evidence.get((obligation.commitment, obligation.period), [])
            status = self.rules.obligation_status(obligation, found, on)
            obligations.append({**obligation.as_dict(), "status": status,
                                "evidence": [e.action_id for e in found]})
        summary = {s: sum(1 for o in obligations if o["status"] == s) for s in STATUSES}
        return {"agreement": reference, "as_of": on.isoformat(),
                "as_of_position": self.answered_as_of(as_of), "summary": summary,
                "obligations": obligations}

    @one_view
    def counts(self, *, as_of: int | None = None,
               standings: dict[tuple[str, str], int] | None = None) -> dict[str, int]:
        """Partners, agreements and actions the registry held (retracted actions count)."""
        out = {}
        clause, params = _as_of("v", as_of)
        for name, table in (("partners", "partner_versions"), ("agreements", "agreement_versions")):
            row = self.sql.one(f"SELECT COUNT(*) AS n FROM {self.sql.table(table)} v "
                               f"WHERE {clause}", params)
            out[name] = int(row["n"]) if row else 0
        out["actions"] = sum((standings or self._standings(as_of)).values())
        return out


def _page(items: list[dict[str, Any]], limit: int) -> Page:
    """A page of actions ordered by (occurred start, id); `next_cursor` resumes after it."""
    if len(items) <= limit:
        return Page(items, None)
    last = items[limit - 1]
    return Page(items[:limit], encode_cursor(last["occurred_on"]["start"], last["id"]))


def _action(row: dict[str, Any]) -> dict[str, Any]:
    facts = json.loads(row["facts"])
    return {"id": row["action_id"], "version": row["version"], "status": row["status"],
            "confirmation": row["confirmation"], "responses": json.loads(row["responses"]),
            **facts, "findings": json.loads(row["findings"]),
            "first_recorded_at": row["first_recorded_at"], "recorded_at": row["recorded_at"],
            "recorded_by": row["recorded_by"], "position": row["valid_from"]}


def _version(row: dict[str, Any]) -> dict[str, Any]:
    return {"version": row["version"], "event": row["event"], "position": row["valid_from"],
            "recorded_at": row["recorded_at"], "recorded_by": row["recorded_by"],
            "reason": row["reason"],
            "changes": json.loads(row["changes"]) if row["changes"] else None}


def _agreement(row: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(row["data"])
    return {**data, "id": row["reference"], "agreement_id": row["agreement_id"],
            "version": row["version"],
            "findings": json.loads(row["findings"]), "recorded_at": row["recorded_at"],
            "position": row["valid_from"]}


def _partner(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["partner_id"], "name": row["name"], "kind": row["kind"],
            "seat": row["seat"], "version": row["version"], "recorded_at": row["recorded_at"]}
