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
    SubtreeHashes,
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
        self.insert_leaf = f"INSERT INTO {self.t('ledger_leaves')} VALUES (?,?,?)"
        self.insert_node = f"INSERT INTO {self.t('ledger_nodes')} VALUES (?,?,?)"

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
        completed = self.tree.append(leaf)
        self.buffer(self.insert_leaf, (notification.id, index, leaf.hex()))
        if len(completed) > 1:  # the leaf closed perfect subtrees (every other append)
            self.buffer_many(self.insert_node, [(height, start, node.hex())
                                                for start, height, node in completed[1:]])

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
        """MTH of leaves [start, end), from the stored perfect subtrees it splits into."""
        return self._hashes([(start, end)])(start, end)

    def _hashes(self, ranges: list[tuple[int, int]]) -> SubtreeHashes:
        """Subtree hashes for `ranges` and any range they split into, read from the store in
        two queries (a leaf look-up and a node look-up) rather than one per node."""
        wanted = {node for start, end in ranges for node in perfect_subtrees(start, end)}
        leaves = sorted(start for height, start in wanted if height == 0)
        nodes = sorted((height, start) for height, start in wanted if height > 0)
        found: dict[tuple[int, int], Hash] = {}
        if leaves:
            marks = ",".join("?" * len(leaves))
            for row in self.sql.all(f"SELECT leaf_index, leaf_hash FROM "
                                    f"{self.sql.table('ledger_leaves')} "
                                    f"WHERE leaf_index IN ({marks})", leaves):
                found[(0, int(row["leaf_index"]))] = bytes.fromhex(row["leaf_hash"])
        if nodes:
            # OR of key look-ups: SQLite scans the whole table for a row-value IN list
            marks = " OR ".join("(height = ? AND start = ?)" for _ in nodes)
            for row in self.sql.all(f"SELECT height, start, hash FROM "
                                    f"{self.sql.table('ledger_nodes')} "
                                    f"WHERE {marks}",
                                    [v for node in nodes for v in node]):
                found[(int(row["height"]), int(row["start"]))] = bytes.fromhex(row["hash"])

        def mth(start: int, end: int) -> Hash:
            width = end - start
            if width & (width - 1) == 0 and start % width == 0:
                node = found.get((width.bit_length() - 1, start))
                if node is None:
                    raise LookupError(f"the tree has no node over leaves [{start}, {end}) yet")
                return node
            k = split(width)
            return node_hash(mth(start, start + k), mth(start + k, end))

        return mth

    def leaf(self, position: int) -> tuple[int, Hash] | None:
        row = self.sql.one(f"SELECT leaf_index, leaf_hash FROM "
                           f"{self.sql.table('ledger_leaves')} WHERE position = ?", (position,))
        return (int(row["leaf_index"]), bytes.fromhex(row["leaf_hash"])) if row else None

    def leaves(self, positions: list[int]) -> dict[int, tuple[int, str]]:
        """(leaf index, leaf hash in hex) of each of `positions` the log holds."""
        if not positions:
            return {}
        marks = ",".join("?" * len(positions))
        rows = self.sql.all(f"SELECT position, leaf_index, leaf_hash FROM "
                            f"{self.sql.table('ledger_leaves')} WHERE position IN ({marks})",
                            positions)
        return {int(r["position"]): (int(r["leaf_index"]), r["leaf_hash"]) for r in rows}

    def inclusion(self, index: int, size: int) -> list[Hash]:
        return inclusion_proof(index, size, self._hashes(_ranges(inclusion_proof, index, size)))

    def consistency(self, first: int, second: int) -> list[Hash]:
        return consistency_proof(first, second,
                                 self._hashes(_ranges(consistency_proof, first, second)))


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The (height, start) of the perfect subtrees that [start, end) splits into."""
    width = end - start
    if width <= 0:
        return []
    if width & (width - 1) == 0 and start % width == 0:
        return [(width.bit_length() - 1, start)]
    k = split(width)
    return perfect_subtrees(start, start + k) + perfect_subtrees(start + k, end)


def _ranges(proof: Any, a: int, b: int) -> list[tuple[int, int]]:
    """The subtree ranges a proof asks for (a dry run with placeholder hashes)."""
    asked: list[tuple[int, int]] = []

    def record(start: int, end: int) -> Hash:
        asked.append((start, end))
        return EMPTY_ROOT

    proof(a, b, record)
    return asked
