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
this runs are not read: the ranges end at the last position when it started.

A worker first takes the healthy case's short way: it reads the range's events alone and
compares their leaves with the recorded ones fetched in one aggregate (`Reads.recorded`),
instead of joining each event to its recorded leaf. Only if they are not exactly one `Run`
does it read the range again, joined row by row, so that the verifier can name what is
wrong; so both ways give the same answer."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import multiprocessing
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from registry.ledger.leaves import MAGIC
from registry.ledger.merkle import block_roots
from registry.ledger.verifier import LEAF_START, event_leaf, topic_bytes

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
    if type(originator) is str and len(originator) == 32:  # as SQLite stores it: first
        return bytes.fromhex(originator)
    if isinstance(originator, UUID):
        return originator.bytes
    text = str(originator)
    return bytes.fromhex(text) if len(text) == 32 else UUID(text).bytes


@dataclass(frozen=True)
class Reads:
    """The statements a range is read with, each over positions in (?, ?].

    - `joined`: the rows `hashed` takes (each event with its recorded leaf, if any);
    - `events`: position, originator id, version, topic and state of each event, in order;
    - `recorded`: over the recorded leaves, one row of how many have a leaf index, their
      smallest and largest position, smallest and largest `leaf_index - position`, 1 if
      every leaf index is an integer and every hash text, and their hashes concatenated
      in position order;
    - `last`: the last position (no parameters).

    Without `events` and `recorded`, every range is read `joined`."""

    joined: str
    last: str
    events: str | None = None
    recorded: str | None = None


def file_leaves(path: str, reads: Reads) -> Iterator[Leaf | Run]:
    """Every event's leaf, in order. Workers only when there are at least two ranges and
    two CPUs."""
    with contextlib.closing(read_only(path)) as conn:
        head = int(conn.execute(reads.last).fetchone()[0] or 0)
        if head < 2 * CHUNK or (os.cpu_count() or 1) < 2:
            yield from hashed(conn.execute(reads.joined, (0, head)))
            return
    ranges = [(path, reads, start, min(start + CHUNK, head))
              for start in range(0, head, CHUNK)]
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing
                                          .get_all_start_methods() else "spawn")
    with context.Pool(min(2, os.cpu_count() or 1)) as pool:
        for leaves in pool.imap(_range_leaves, ranges):
            if isinstance(leaves, Run):
                yield leaves
            else:
                yield from leaves


def _range_leaves(job: tuple[str, Reads, int, int]) -> list[Leaf] | Run:
    path, reads, start, stop = job
    with contextlib.closing(read_only(path)) as conn:
        conn.execute("BEGIN")  # one snapshot for both ways of reading
        run = matched_run(conn, reads, start, stop)
        if run is not None:
            return run
        leaves = list(hashed(conn.execute(reads.joined, (start, stop))))
    return as_run(leaves, BLOCK) or leaves


def matched_run(conn: sqlite3.Connection, reads: Reads, start: int, stop: int) -> Run | None:
    """The range as one `Run`, if its events are at consecutive positions, with a leaf
    recorded for each of them and for no other position in the range, at consecutive
    indexes, each equal to the event's leaf: what `as_run` finds of a healthy range."""
    if reads.events is None or reads.recorded is None:
        return None
    rows = conn.execute(reads.events, (start, stop))
    first_row = rows.fetchone()
    if first_row is None:
        return None
    sha256, start_of, fromhex = hashlib.sha256, LEAF_START.pack, bytes.fromhex
    leaves, first, position = [], first_row[0], 0
    for position, originator, version, topic, state in itertools.chain((first_row,), rows):
        # event_leaf, inlined: the calls alone were a twentieth of a worker's time
        leaves.append(sha256(b"".join((
            b"\x00", start_of(MAGIC, position, fromhex(originator) if type(originator) is str
                              and len(originator) == 32 else id_bytes(originator), version),
            topic_bytes(topic),
            sha256(state).digest()))).digest())
    count = len(leaves)
    recorded, lowest, highest, offset, same_offset, typed, hashes = conn.execute(
        reads.recorded, (start, stop)).fetchone()
    joined = b"".join(leaves)
    # positions increase (ORDER BY a unique column): consecutive if the last is the first
    # plus `count - 1`
    if (position - first != count - 1 or (recorded, lowest, highest, same_offset, typed)
            != (count, first, position, offset, 1) or hashes != joined.hex()):
        return None
    index = first + offset
    return Run(first, index, joined, block_roots(index, joined, BLOCK), BLOCK)
