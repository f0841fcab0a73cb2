"""Queries over the read models. Every query can be asked as of a past global position
(transaction time) and, for actions, over an occurred period (valid time)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from registry.projections.actions import TAGS
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


def _as_of(alias: str, as_of: int | None) -> tuple[str, list[Any]]:
    if as_of is None:
        return f"{alias}.valid_to IS NULL", []
    return (f"{alias}.valid_from <= ? AND ({alias}.valid_to IS NULL OR {alias}.valid_to > ?)",
            [as_of, as_of])


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        values = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        values = None
    if not isinstance(values, list):
        from registry.domain import invalid

        raise invalid("cursor", "query.cursor", "not a cursor this registry issued")
    return values


class Queries:
    def __init__(self, sql: Sql, rules: Any = None) -> None:
        self.sql = sql
        self.rules = rules

    def similar_actions(self, facts: Any, *, as_of: int | None = None,
                        limit: int = 20) -> list[dict[str, Any]]:
        """Live actions of the same kind, overlapping in time, reported by someone else:
        the candidates plugins look at for duplication."""
        clause, params = _as_of("v", as_of)
        rows = self.sql.all(
            f"SELECT * FROM {self.sql.table('action_versions')} v WHERE v.kind = ? AND "
            f"{clause} AND v.status <> 'retracted' AND v.reporting_partner <> ? "
            "AND v.occurred_start <= ? AND v.occurred_end >= ? ORDER BY v.action_id LIMIT ?",
            (facts.kind, *params, facts.reporting_partner, facts.occurred_on.end.isoformat(),
             facts.occurred_on.start.isoformat(), limit))
        return [_action(row) for row in rows]

    # -- actions ----------------------------------------------------------------------

    def actions(self, where: ActionFilter = ActionFilter(), *, as_of: int | None = None,
                limit: int = 100, cursor: str | None = None) -> Page:
        clause, params = _as_of("v", as_of)
        clauses = [clause]
        for tag in TAGS:
            value = getattr(where, tag)
            if value is not None:
                clauses.append(f"EXISTS (SELECT 1 FROM {self.sql.table('action_tags')} t "
                               "WHERE t.tag = ? AND t.value = ? AND t.action_id = v.action_id "
                               "AND t.version = v.version)")
                params += [tag, value]
        for column, value in (("kind", where.kind), ("agreement", where.agreement)):
            if value is not None:
                clauses.append(f"v.{column} = ?")
                params.append(value)
        if where.occurred_from is not None:
            clauses.append("v.occurred_end >= ?")
            params.append(where.occurred_from.isoformat())
        if where.occurred_to is not None:
            clauses.append("v.occurred_start <= ?")
            params.append(where.occurred_to.isoformat())
        if not where.include_retracted:
            clauses.append("v.status <> 'retracted'")
        if cursor:
            start, action_id = decode_cursor(cursor)
            clauses.append("(v.occurred_start > ? OR (v.occurred_start = ? AND v.action_id > ?))")
            params += [start, start, action_id]
        rows = self.sql.all(
            f"SELECT * FROM {self.sql.table('action_versions')} v WHERE "
            + " AND ".join(clauses) + " ORDER BY v.occurred_start, v.action_id LIMIT ?",
            [*params, limit + 1])
        items = [_action(row) for row in rows[:limit]]
        more = len(rows) > limit
        last = items[-1] if items else None
        next_cursor = encode_cursor(last["occurred_on"]["start"], last["id"]) if more and last \
            else None
        return Page(items, next_cursor)

    def action(self, action_id: str, *, as_of: int | None = None) -> dict[str, Any] | None:
        """The action as of a position, with every version recorded up to then."""
        limit_clause, params = ("", []) if as_of is None else ("AND valid_from <= ?", [as_of])
        rows = self.sql.all(
            f"SELECT * FROM {self.sql.table('action_versions')} WHERE action_id = ? "
            f"{limit_clause} ORDER BY version", [action_id, *params])
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

    # -- compliance ---------------------------------------------------------------------

    def compliance(self, reference: str, *, on: date) -> dict[str, Any] | None:
        """Each obligation of the agreement that had begun by `on`, judged as of `on`
        (valid time) from the evidence that had occurred by then."""
        if self.agreement(reference) is None:
            return None
        rows = self.sql.all(
            f"SELECT obligation FROM {self.sql.table('compliance_obligations')} "
            "WHERE reference = ? AND start_on <= ? ORDER BY commitment, start_on",
            (reference, on.isoformat()))
        evidence: dict[tuple[str, str], list[Evidence]] = {}
        for row in self.sql.all(
                f"SELECT * FROM {self.sql.table('compliance_evidence')} WHERE reference = ? "
                "AND occurred_start <= ? ORDER BY occurred_start, action_id",
                (reference, on.isoformat())):
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
        return {"agreement": reference, "as_of": on.isoformat(), "summary": summary,
                "obligations": obligations}

    def counts(self) -> dict[str, int]:
        out = {}
        for name, table in (("partners", "partner_versions"), ("agreements", "agreement_versions"),
                            ("actions", "action_versions")):
            row = self.sql.one(f"SELECT COUNT(*) AS n FROM {self.sql.table(table)} "
                               "WHERE valid_to IS NULL")
            out[name] = int(row["n"]) if row else 0
        return out


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
    return {**data, "id": row["reference"], "version": row["version"],
            "findings": json.loads(row["findings"]), "recorded_at": row["recorded_at"],
            "position": row["valid_from"]}


def _partner(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["partner_id"], "name": row["name"], "kind": row["kind"],
            "seat": row["seat"], "version": row["version"], "recorded_at": row["recorded_at"]}
