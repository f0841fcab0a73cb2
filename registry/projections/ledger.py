"""The transparency log as a read model: every stored event, in global order, is a leaf of
an RFC 6962 Merkle tree. Appends are O(log n) (the compact tree's right edge is kept); every
perfect subtree is stored, so any root or proof needs O(log n) look-ups. Tracked like every
read model: exactly once, resumable, and rebuilt identically by a replay."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking

from registry.ledger.leaves import event_leaf_hash
from registry.ledger.merkle import (
    EMPTY_ROOT,
    CompactTree,
    Hash,
    consistency_proof,
    inclusion_proof,
    node_hash,
    split,
)
from registry.projections.base import ReadModel
from registry.store import Sql


class LedgerProjection(ReadModel):
    name = "ledger"
    raw = True  # leaves cover the stored bytes, not the decoded event
    tables: ClassVar[dict[str, str]] = {
        "ledger_leaves": """
            position BIGINT NOT NULL, leaf_index BIGINT NOT NULL, leaf_hash TEXT NOT NULL,
            PRIMARY KEY (position)""",
        "ledger_nodes": """
            height INTEGER NOT NULL, start BIGINT NOT NULL, hash TEXT NOT NULL,
            PRIMARY KEY (height, start)""",
        "ledger_edge": """
            name TEXT NOT NULL, size BIGINT NOT NULL, edge TEXT NOT NULL,
            PRIMARY KEY (name)""",
    }
    indexes: ClassVar[list[str]] = [
        "CREATE UNIQUE INDEX IF NOT EXISTS ledger_leaves_index ON {ledger_leaves} (leaf_index)",
    ]

    def __init__(self, view: Any, rules: Any = None) -> None:
        super().__init__(view, rules)
        self.tree: CompactTree | None = None  # loaded per batch: another process may append

    def batch_ended(self) -> None:
        self.tree = None

    def reset(self) -> None:
        super().reset()
        self.tree = None

    def apply(self, notification: Any, tracking: Tracking) -> None:
        if self.tree is None:
            self.tree = _load_edge(self.model, self.t("ledger_edge"))
        leaf = event_leaf_hash(notification.id, notification.originator_id,
                               notification.originator_version, notification.topic,
                               notification.state)
        index = self.tree.size
        for start, height, node in self.tree.append(leaf):
            if height == 0:
                self.buffer(f"INSERT INTO {self.t('ledger_leaves')} VALUES (?,?,?)",
                            (notification.id, index, node.hex()))
            else:
                self.buffer(f"INSERT INTO {self.t('ledger_nodes')} VALUES (?,?,?)",
                            (height, start, node.hex()))

    def flush(self) -> None:
        super().flush()
        if self.tree is not None:
            self.model.execute(
                f"INSERT INTO {self.t('ledger_edge')} VALUES ('tree', ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET size = excluded.size, edge = excluded.edge",
                (self.tree.size, json.dumps([h.hex() for h in self.tree.edge])))


def _load_edge(model: Any, table: str) -> CompactTree:
    row = model.execute(f"SELECT size, edge FROM {table} WHERE name = 'tree'").fetchone()
    if row is None:
        return CompactTree()
    return CompactTree(int(row["size"]), [bytes.fromhex(h) for h in json.loads(row["edge"])])


class Ledger:
    """Roots and proofs over the stored tree (what checkpoints and auditors ask for)."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def size(self) -> int:
        row = self.sql.one(f"SELECT size FROM {self.sql.table('ledger_edge')} "
                           "WHERE name = 'tree'")
        return int(row["size"]) if row else 0

    def root(self, size: int | None = None) -> Hash:
        size = self.size() if size is None else size
        return self.subtree(0, size) if size else EMPTY_ROOT

    def subtree(self, start: int, end: int) -> Hash:
        """MTH of leaves [start, end): a stored perfect subtree, or split into them."""
        width = end - start
        if width == 1:
            row = self.sql.one(f"SELECT leaf_hash FROM {self.sql.table('ledger_leaves')} "
                               "WHERE leaf_index = ?", (start,))
            return _hash(row, "leaf_hash", start)
        if width & (width - 1) == 0 and start % width == 0:
            row = self.sql.one(f"SELECT hash FROM {self.sql.table('ledger_nodes')} "
                               "WHERE height = ? AND start = ?", (width.bit_length() - 1, start))
            return _hash(row, "hash", start)
        k = split(width)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def leaf(self, position: int) -> tuple[int, Hash] | None:
        row = self.sql.one(f"SELECT leaf_index, leaf_hash FROM "
                           f"{self.sql.table('ledger_leaves')} WHERE position = ?", (position,))
        return (int(row["leaf_index"]), bytes.fromhex(row["leaf_hash"])) if row else None

    def leaf_hashes(self, positions: list[int]) -> dict[int, str]:
        if not positions:
            return {}
        marks = ",".join("?" * len(positions))
        rows = self.sql.all(f"SELECT position, leaf_hash FROM {self.sql.table('ledger_leaves')} "
                            f"WHERE position IN ({marks})", positions)
        return {int(r["position"]): r["leaf_hash"] for r in rows}

    def inclusion(self, index: int, size: int) -> list[Hash]:
        return inclusion_proof(index, size, self.subtree)

    def consistency(self, first: int, second: int) -> list[Hash]:
        return consistency_proof(first, second, self.subtree)


def _hash(row: dict[str, Any] | None, column: str, start: int) -> Hash:
    if row is None:
        raise LookupError(f"the tree has no node at leaf {start} yet")
    return bytes.fromhex(row[column])
