"""The independent verifier of the transparency log (specified in docs/audit.md).

It reads the events of an export (or of a live store, or of a server's `/v1/events`) in log
order with any signed checkpoints, recomputes every leaf and the Merkle root, and checks:

1. positions strictly increase (a gap is allowed: PostgreSQL skips the numbers of refused
   writes), and the leaf index the log recorded for an event, when given, is its place here;
2. each event hashes to the leaf hash the log recorded for it, when given, and only a tail
   of events may lack a recorded leaf (the log not having caught up yet);
3. every checkpoint is signed by the log's key and its root is the root of the first `size`
   leaves; the last checkpoint of an export or server covers all its events;
4. a checkpoint saved earlier (the auditor's own copy, or the witness file) is covered:
   the log only grew.

It stops at the first bad event and names its position. When only roots disagree (whoever
changed an event rewrote the recorded leaf hashes too), the first bad position lies after
the largest checkpoint that still verifies and at or before the smallest that does not.

It shares no state with the server: the standard library, the leaf encoding (leaves.py),
RFC 6962 hashing (merkle.py) and the signed-note format (notes.py) are all it uses."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from registry.ledger.leaves import MAGIC
from registry.ledger.merkle import CompactTree, Hash
from registry.ledger.notes import Checkpoint, CheckpointInvalid, VerifierKey, open_note

EXPORT_FORMAT = "coopreg-events/1"
_sha256 = hashlib.sha256


LEAF_START = struct.Struct(">4sQ16sQ")  # magic, position, originator id, version
_topics: dict[str, bytes] = {}  # topic -> its length (2 bytes) and UTF-8 bytes


def topic_bytes(topic: str) -> bytes:
    """A topic as the leaf encoding has it: its length (2 bytes) and UTF-8 bytes (kept: a
    log has a few dozen topics)."""
    encoded = _topics.get(topic)
    if encoded is None:
        raw = topic.encode("utf-8")
        encoded = struct.pack(">H", len(raw)) + raw
        if len(_topics) < 4096:
            _topics[topic] = encoded
    return encoded


def event_leaf(position: int, originator_id: bytes, version: int, topic: str,
               state: bytes) -> Hash:
    """The leaf hash of a stored event: leaves.py's encoding, packed in one call."""
    return _sha256(b"".join((b"\x00", LEAF_START.pack(MAGIC, position, originator_id, version),
                             _topics.get(topic) or topic_bytes(topic),
                             _sha256(state).digest()))).digest()


@dataclass(frozen=True)
class Failure:
    """What is wrong, and where: an exact position, a range (after, upto] of positions, or a
    checkpoint (by its size) when the events are not at fault."""

    reason: str
    position: int | None = None
    between: tuple[int, int] | None = None
    checkpoint: int | None = None

    def sort_key(self) -> int:
        if self.position is not None:
            return self.position
        if self.between is not None:
            return self.between[0] + 1
        return self.checkpoint if self.checkpoint is not None else 1 << 62

    def __str__(self) -> str:
        if self.position is not None:
            return f"first bad position: {self.position} \u2014 {self.reason}"
        if self.between is not None:
            return (f"first bad position is in ({self.between[0]}, {self.between[1]}] "
                    f"\u2014 {self.reason}")
        if self.checkpoint is not None:
            return f"bad checkpoint (size {self.checkpoint}) \u2014 {self.reason}"
        return self.reason

    def as_dict(self) -> dict[str, Any]:
        return {"message": str(self), "reason": self.reason, "position": self.position,
                "between": list(self.between) if self.between else None,
                "checkpoint": self.checkpoint}


@dataclass(frozen=True)
class Signed:
    """A checkpoint whose signature verified, where it came from, and the position of its
    last leaf (once the events reached its size)."""

    checkpoint: Checkpoint
    note: str
    source: str
    position: int = 0

    def describe(self) -> str:
        stamp = self.checkpoint.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.source} of size {self.checkpoint.size} (signed {stamp})"


@dataclass
class Report:
    events: int
    last_position: int
    root: Hash
    head: Signed | None  # the verified checkpoint of exactly `events` leaves, if any
    verified: int  # how many checkpoints verified
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def first(self) -> Failure | None:
        return min(self.failures, key=Failure.sort_key) if self.failures else None

    def as_dict(self) -> dict[str, Any]:
        head = self.head.checkpoint.as_dict() if self.head else None
        return {"ok": self.ok, "events": self.events, "last_position": self.last_position,
                "root_hash": self.root.hex(), "checkpoint": head,
                "checkpoints_verified": self.verified,
                "first_failure": self.first.as_dict() if self.first else None,
                "failures": [f.as_dict() for f in sorted(self.failures, key=Failure.sort_key)]}


class LogVerifier:
    """Feed `event` and `checkpoint` in log order, then `finish`."""

    def __init__(self, key: VerifierKey) -> None:
        self.key = key
        self.size = 0  # leaves so far; `edge` holds the tree's right edge (see CompactTree)
        self.edge: list[Hash] = []
        self.last_position = 0
        self.unlogged_from: int | None = None  # first position without a recorded leaf
        self.matched = 0  # events that hashed to the leaf the log recorded for them
        self.broken = False
        self.failures: list[Failure] = []
        self.awaiting: dict[int, list[Signed]] = {}  # checkpoints beyond the events so far
        self.due = -1  # the smallest size awaited (-1: none)
        self.verified: list[Signed] = []
        self.mismatched: list[Signed] = []
        self.unplaced: list[Signed] = []  # checkpoints of sizes passed before they came
        self.last: Signed | None = None  # the stream's latest checkpoint

    # -- events ------------------------------------------------------------------------

    def event(self, position: int, originator_id: bytes, version: int, topic: str,
              state: bytes, leaf_index: int | None = None, leaf_hash: str | None = None
              ) -> bool:
        """Check one event; False once the log is broken (further events are ignored)."""
        return self.leaf(position, event_leaf(position, originator_id, version, topic, state),
                         leaf_index, leaf_hash)

    def leaf(self, position: int, leaf: Hash, leaf_index: int | None = None,
             leaf_hash: str | None = None) -> bool:
        """`event`, given the event's leaf hash computed already (by another process)."""
        if self.broken:
            return False
        size, last = self.size, self.last_position
        if position <= last:
            return self._bad(last + 1, f"position {position} comes after {last} "
                                       "(duplicated or out of order)")
        if type(leaf_index) not in _INT_OR_NONE or type(leaf_hash) not in _STR_OR_NONE:
            return self._bad(position, f"the log recorded leaf index {leaf_index!r} and "
                             f"leaf hash {leaf_hash!r} for it: not an integer and a text")
        if leaf_hash is not None and self.unlogged_from is not None:
            return self._bad(self.unlogged_from, "this event is not in the log (no leaf "
                             f"recorded) although later ones are, from position {position}")
        if leaf_index is not None and leaf_index != size:
            return self._misplaced(position, leaf_index)
        if leaf_hash is None:
            if self.unlogged_from is None:
                self.unlogged_from = position
        elif leaf.hex() != leaf_hash:
            return self._bad(position, "the event does not hash to the leaf the log recorded "
                             "(its content, position, topic or aggregate changed)")
        else:
            self.matched += 1
        node, edge = leaf, self.edge
        while size & 1:  # CompactTree.append, inlined: it is most of the work per event
            node = _sha256(b"\x01" + edge.pop() + node).digest()
            size >>= 1
        edge.append(node)
        self.size += 1
        self.last_position = position
        if self.size == self.due:
            self._reached()
        return True

    def run(self, position: int, leaf_index: int, leaves: bytes, roots: bytes = b"",
            block: int = 0) -> bool:
        """`leaf` for events at consecutive positions from `position`, whose leaves (32
        bytes each, concatenated) another process computed and found equal to the leaf
        hashes the log recorded for them, at consecutive indexes from `leaf_index`: a
        healthy log's usual case, taken whole. `roots` may carry that process's
        `block_roots(leaf_index, leaves, block)`: an aligned block then joins the tree as
        one subtree (one append, not `block`), unless a checkpoint's size falls inside it.
        If the run does not continue this verifier's log exactly, its leaves go through
        `leaf` one by one, which names what is wrong."""
        count = len(leaves) // 32
        if (self.broken or position <= self.last_position or leaf_index != self.size
                or self.unlogged_from is not None):
            return all(self.leaf(position + i, leaves[32 * i:32 * i + 32], leaf_index + i,
                                 leaves[32 * i:32 * i + 32].hex()) for i in range(count))
        first_block = leaf_index + -leaf_index % block if block else 0
        height = block.bit_length() - 1
        i = 0
        while i < count:
            size = self.size
            if (roots and size % block == 0 and i + block <= count
                    and not size < self.due < size + block):
                b = (size - first_block) // block
                self._append(roots[32 * b:32 * b + 32], height)
                i += block
            else:
                self._append(leaves[32 * i:32 * i + 32], 0)
                i += 1
            if self.size == self.due:
                self.last_position = position + i - 1
                self._reached()
        self.matched += count
        self.last_position = position + count - 1
        return True

    def _append(self, node: Hash, height: int) -> None:
        """A perfect subtree of 2**height leaves, at a size that is a multiple of that."""
        edge, size = self.edge, self.size >> height
        while size & 1:  # as in `leaf`
            node = _sha256(b"\x01" + edge.pop() + node).digest()
            size >>= 1
        edge.append(node)
        self.size += 1 << height

    def root(self) -> Hash:
        return CompactTree(self.size, self.edge).root()

    def _misplaced(self, position: int, leaf_index: int) -> bool:
        size, last = self.size, self.last_position
        if leaf_index < size:
            return self._bad(position, f"the log recorded this event as leaf {leaf_index + 1}, "
                             f"but {size} events precede it here (an event was inserted)")
        missing = leaf_index - size
        reason = (f"{missing} event(s) the log recorded before position {position} are "
                  f"missing (it is leaf {leaf_index + 1}; {size} events precede it here)")
        if position - last - 1 <= missing:  # no room for a legitimate gap as well
            return self._bad(last + 1, reason)
        return self._fail(Failure(reason, between=(last, position - 1)))

    def _bad(self, position: int, reason: str) -> bool:
        return self._fail(Failure(reason, position=position))

    def _fail(self, failure: Failure) -> bool:
        self.failures.append(failure)
        self.broken = True
        return False

    # -- checkpoints -------------------------------------------------------------------

    def checkpoint(self, note: str, source: str, *, saved: bool = False) -> None:
        """Check a signed note now (if the events reached its size) or when they do. A
        `saved` note is the auditor's own, not one the log streamed."""
        try:
            checkpoint = open_note(note, self.key)
        except CheckpointInvalid as error:
            self.failures.append(Failure(f"{source} does not verify: {error}",
                                         checkpoint=_claimed_size(note)))
            return
        signed = Signed(checkpoint, note, source)
        if not saved:
            self.last = signed
        size = checkpoint.size
        if size < self.size:
            self._out_of_place(signed)
        elif size == self.size:
            self._compare(signed)
        else:
            self.awaiting.setdefault(size, []).append(signed)
            self.due = min(self.awaiting)

    def _reached(self) -> None:
        for signed in self.awaiting.pop(self.due):
            self._compare(signed)
        self.due = min(self.awaiting, default=-1)

    def _compare(self, signed: Signed) -> None:
        placed = Signed(signed.checkpoint, signed.note, signed.source, self.last_position)
        if signed is self.last:
            self.last = placed
        if signed.checkpoint.root == self.root():
            self.verified.append(placed)
        else:
            self.mismatched.append(placed)

    def _out_of_place(self, signed: Signed) -> None:
        """A checkpoint of a size already passed: fine if one like it verified there, else
        it cannot be checked any more (a checkpoint follows the event at its size)."""
        for earlier in self.verified:
            if (earlier.checkpoint.size, earlier.checkpoint.root) == (
                    signed.checkpoint.size, signed.checkpoint.root):
                if signed is self.last:
                    self.last = Signed(signed.checkpoint, signed.note, signed.source,
                                       earlier.position)
                return
        self.unplaced.append(signed)

    # -- the verdict -------------------------------------------------------------------

    def finish(self, require_head: bool = True) -> Report:
        """The report; with `require_head`, the stream's last checkpoint must cover every
        event (an export or a server always ends with one)."""
        self._rewritten()
        if not self.broken:
            self._missing_tail()
            if require_head:
                self._head_covered()
            for signed in self.unplaced:
                if signed is not self.last:
                    self.failures.append(Failure(
                        f"{signed.describe()} comes after {self.size} events and "
                        "cannot be checked there", checkpoint=signed.checkpoint.size))
        covering = [s for s in self.verified if s.checkpoint.size == self.size]
        head = next((s for s in covering if s.note == getattr(self.last, "note", None)),
                    covering[0] if covering else None)  # the log's own, before a saved one
        return Report(self.size, self.last_position, self.root(), head,
                      len(self.verified), self.failures)

    def _missing_tail(self) -> None:
        """Checkpoints beyond the events: the log was rolled back or truncated."""
        if not self.awaiting:
            return
        largest = self.awaiting[max(self.awaiting)][0]
        self.failures.append(Failure(
            f"rolled back or truncated: {largest.describe()} covers "
            f"{largest.checkpoint.size} events, but only {self.size} remain; first "
            f"missing position {self.last_position + 1}", position=self.last_position + 1))

    def _rewritten(self) -> None:
        """Roots that disagree although every leaf matched what the log recorded."""
        if not self.mismatched:
            return
        bad = min(self.mismatched, key=lambda s: s.checkpoint.size)
        good = max((s for s in self.verified if s.checkpoint.size < bad.checkpoint.size),
                   key=lambda s: s.checkpoint.size, default=None)
        after, after_size = (good.position, good.checkpoint.size) if good else (0, 0)
        reason = (f"the events do not hash to the root of {bad.describe()}"
                  + (f"; {good.describe()} still verifies" if good else "")
                  + (" (each matched its recorded leaf: those were rewritten too)"
                     if self.matched else ""))
        if bad.checkpoint.size - after_size == 1:
            self.failures.append(Failure(reason, position=bad.position))
        else:
            self.failures.append(Failure(reason, between=(after, bad.position)))

    def _head_covered(self) -> None:
        last, size = self.last, self.size
        if last is None:
            self.failures.append(Failure(
                f"no signed checkpoint covers the {size} events (was the export made "
                "without the signing key?)"))
        elif last.checkpoint.size < size:
            self.failures.append(Failure(
                f"the last checkpoint is {last.describe()}, but {size} events precede it: "
                f"the log's own checkpoint of them is missing or was replaced",
                checkpoint=last.checkpoint.size))


def _claimed_size(note: str) -> int | None:
    lines = note.split("\n")
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else None


# -- sources -----------------------------------------------------------------------------

def verify_records(records: Iterable[dict[str, Any]], key: VerifierKey,
                   saved: str | None = None) -> Report:
    """Verify event records (dicts as in an export line) and `{"checkpoint": note}` items,
    in log order, against the key and an optional saved checkpoint note."""
    verifier = LogVerifier(key)
    if saved is not None:
        verifier.checkpoint(saved, "your saved checkpoint", saved=True)
    for record in records:
        if "checkpoint" in record and "position" not in record:
            verifier.checkpoint(str(record["checkpoint"]), "the log's checkpoint")
        elif not _check_record(verifier, record):
            break
    return verifier.finish()


_INT_OR_NONE, _STR_OR_NONE = (int, type(None)), (str, type(None))


def _check_record(verifier: LogVerifier, record: dict[str, Any]) -> bool:
    if "malformed" in record:
        return verifier._bad(verifier.last_position + 1, record["malformed"])
    try:
        position, version, topic = (record["position"], record["originator_version"],
                                    record["topic"])
        leaf_index, leaf_hash = record.get("leaf_index"), record.get("leaf_hash")
        if (type(position) is not int or type(version) is not int or type(topic) is not str
                or type(leaf_index) not in _INT_OR_NONE or type(leaf_hash) not in _STR_OR_NONE):
            raise ValueError("position, originator_version and leaf_index are integers, "
                             "topic and leaf_hash strings")
        state = (base64.b64decode(record["state_b64"], validate=True)
                 if "state_b64" in record else record["state"].encode("utf-8"))
        originator_id = _uuid_bytes(record["originator_id"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return verifier._bad(verifier.last_position + 1,
                             f"a malformed event record ({type(error).__name__}: {error})")
    return verifier.event(position, originator_id, version, topic, state, leaf_index,
                          leaf_hash)


def _uuid_bytes(text: str) -> bytes:
    """The 16 bytes of a UUID string; the canonical 8-4-4-4-12 form without UUID()'s cost."""
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        raw = bytes.fromhex(text[:8] + text[9:13] + text[14:18] + text[19:23] + text[24:])
        if len(raw) == 16:
            return raw
    return UUID(text).bytes


def export_records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The records of an NDJSON export; a line that is not a JSON object yields a record
    the verifier refuses (so the failure names where the export broke)."""
    for number, line in enumerate(lines, start=1):
        if not line or line.isspace():  # (strip() would copy every line)
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            yield {"malformed": f"line {number} is not JSON ({error})"}
            continue
        if number == 1 and isinstance(record, dict) and "format" in record:
            if record["format"] != EXPORT_FORMAT:
                yield {"malformed": f"unknown export format {record['format']!r}; expected "
                                f"{EXPORT_FORMAT}"}
            continue
        yield (record if isinstance(record, dict)
               else {"malformed": f"line {number} is not a JSON object"})


def server_records(url: str, token: str | None, page: int = 500,
                   timeout: float = 30) -> Iterator[dict[str, Any]]:
    """A server's log: its latest checkpoint first fixes the size, then the events of that
    many leaves, page by page, then the checkpoint again (as an export would end)."""
    base = url.rstrip("/")
    head = _get_json(f"{base}/v1/log/checkpoint", token, timeout)
    size, after, seen = int(head["size"]), 0, 0
    while seen < size:
        query = urllib.parse.urlencode({"after": after, "limit": page})
        items = _get_json(f"{base}/v1/events?{query}", token, timeout)["items"]
        yield from items[:size - seen]
        seen += min(len(items), size - seen)
        if len(items) < page:
            break
        after = items[-1]["position"]
    yield {"checkpoint": head["note"]}


def _get_json(url: str, token: str | None, timeout: float) -> Any:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                timeout=timeout) as response:
        return json.load(response)
