"""The leaves of a SQLite store's events, hashed by worker processes.

Hashing each event (SHA-256 of its state, then of its leaf encoding) and reading it from
the file is most of what `coopreg verify` does per event; the checks and the tree that
follow are cheap. So a large store is cut into ranges of positions, worker processes read
and hash a range each (each its own read-only connection), and the caller receives, in log
order, what `LogVerifier.leaf` takes, or for a range that hashed exactly as the log
recorded it, one `Run` for `LogVerifier.run` (the 32 bytes of a leaf cross between
processes instead of a tuple, and the worker also hashes the range's aligned blocks of
`BLOCK` leaves into subtree roots, so the caller joins a block to the tree in one step:
the caller, one process, had been doing an interior-node hash per event). Events appended while
this runs are not read: the ranges end at the last position when it started."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from registry.ledger.merkle import block_roots
from registry.ledger.verifier import event_leaf

CHUNK = 50_000  # positions per range: enough work to outweigh handing the range over
BLOCK = 1024  # leaves per aligned subtree whose root a worker computes for the caller
Leaf = tuple[int, bytes, int | None, str | None]  # position, leaf, recorded index and hash


@dataclass(frozen=True)
class Run:
    """Events at consecutive positions from `position`, recorded as consecutive leaves
    from `leaf_index`, each hashing to the leaf the log recorded: their leaves, joined."""

    position: int
    leaf_index: int
    leaves: bytes
    roots: bytes = b""  # block_roots(leaf_index, leaves, block)
    block: int = 0


def as_run(leaves: list[Leaf], block: int = 0) -> Run | None:
    """The leaves as one `Run`, if they are one; with the roots of its aligned blocks of
    `block` leaves, if given."""
    if not leaves or leaves[0][2] is None:
        return None
    position, _, index, _ = leaves[0]
    for offset, (at, leaf, leaf_index, recorded) in enumerate(leaves):
        if at != position + offset or leaf_index != index + offset or recorded != leaf.hex():
            return None
    joined = b"".join(leaf for _, leaf, _, _ in leaves)
    if not block:
        return Run(position, index, joined)
    return Run(position, index, joined, block_roots(index, joined, block), block)


def read_only(path: str) -> sqlite3.Connection:
    uri = f"file:{urllib.parse.quote(str(Path(path).resolve()))}?mode=ro"
    return sqlite3.connect(uri, uri=True)


def hashed(rows: Any) -> Iterator[Leaf]:
    """(position, leaf, recorded leaf index, recorded leaf hash) of each selected row:
    position, originator id, version, topic, state, leaf index, leaf hash."""
    for position, originator, version, topic, state, index, recorded in rows:
        yield (position, event_leaf(position, id_bytes(originator), version, topic, state),
               index, recorded)


def id_bytes(originator: Any) -> bytes:
    if isinstance(originator, UUID):
        return originator.bytes
    text = str(originator)
    return bytes.fromhex(text) if len(text) == 32 else UUID(text).bytes


def file_leaves(path: str, statement: str, last: str) -> Iterator[Leaf | Run]:
    """Every event's leaf, in order. `statement` selects the rows `hashed` takes, with
    positions in (?, ?]; `last` the last position. Workers only when there are at least
    two ranges and two CPUs."""
    with contextlib.closing(read_only(path)) as conn:
        head = int(conn.execute(last).fetchone()[0] or 0)
        if head < 2 * CHUNK or (os.cpu_count() or 1) < 2:
            yield from hashed(conn.execute(statement, (0, head)))
            return
    ranges = [(path, statement, start, min(start + CHUNK, head))
              for start in range(0, head, CHUNK)]
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing
                                          .get_all_start_methods() else "spawn")
    with context.Pool(min(2, os.cpu_count() or 1)) as pool:
        for leaves in pool.imap(_range_leaves, ranges):
            if isinstance(leaves, Run):
                yield leaves
            else:
                yield from leaves


def _range_leaves(job: tuple[str, str, int, int]) -> list[Leaf] | Run:
    path, statement, start, stop = job
    with contextlib.closing(read_only(path)) as conn:
        leaves = list(hashed(conn.execute(statement, (start, stop))))
    return as_run(leaves, BLOCK) or leaves
