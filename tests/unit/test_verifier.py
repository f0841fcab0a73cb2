"""The independent verifier on logs built in memory: an honest log verifies; each way of
tampering with it is caught and its first bad position named (docs/audit.md)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.ledger.leaves import event_leaf_hash
from registry.ledger.merkle import block_roots, root
from registry.ledger.notes import Checkpoint, SigningKey, VerifierKey
from registry.ledger.verifier import (
    LogVerifier,
    _uuid_bytes,
    event_leaf,
    export_records,
    verify_records,
)

KEY = SigningKey.generate()
WHEN = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def make_log(count: int, positions: list[int] | None = None) -> list[dict]:
    """Event records as an export carries them, each with the leaf the log recorded."""
    records = []
    for index, position in enumerate(positions or range(1, count + 1)):
        aggregate = uuid.UUID(int=index // 3 + 1)
        state = json.dumps({"summary": f"Joint workshop {index} ✓", "n": index})
        records.append({"position": position, "originator_id": str(aggregate),
                        "originator_version": index % 3 + 1,
                        "topic": "registry.domain.action:Action.Reported", "state": state})
    for index, record in enumerate(records):
        record["leaf_index"], record["leaf_hash"] = index, leaf_of(record).hex()
    return records


def leaf_of(record: dict) -> bytes:
    return event_leaf_hash(record["position"], uuid.UUID(record["originator_id"]),
                           record["originator_version"], record["topic"],
                           record["state"].encode())


def signed(records: list[dict], size: int, key: SigningKey = KEY) -> str:
    leaves = [bytes.fromhex(r["leaf_hash"]) for r in records[:size]]
    return key.sign(Checkpoint(key.name, size, root(leaves), WHEN))


def exported(records: list[dict], *sizes: int) -> list[dict]:
    """The records with checkpoints after the event at each size, and the head's last."""
    stream = []
    for count, record in enumerate(records):
        stream += [{"checkpoint": signed(records, count)} for s in sizes if s == count]
        stream.append(record)
    return [*stream, {"checkpoint": signed(records, len(records))}]


def verify(stream: list[dict], saved: str | None = None):
    return verify_records(stream, KEY.verifier, saved)


def first(stream: list[dict], saved: str | None = None) -> str:
    report = verify(stream, saved)
    assert not report.ok
    return str(report.first)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 2**63 - 1), st.uuids(), st.integers(1, 2**63 - 1),
       st.text(min_size=1, max_size=40), st.binary(max_size=200))
def test_the_verifier_packs_leaves_exactly_as_the_log_does(position, aggregate, version,
                                                           topic, state):
    assert event_leaf(position, aggregate.bytes, version, topic, state) == event_leaf_hash(
        position, aggregate, version, topic, state)


@pytest.mark.parametrize("text", [
    "00000000-0000-4000-8000-000000000002", "{12345678-1234-5678-1234-567812345678}",
    "12345678123456781234567812345678", "urn:uuid:12345678-1234-5678-1234-567812345678",
    "ABCDEF01-2345-6789-ABCD-EF0123456789"])
def test_aggregate_ids_read_as_the_import_reads_them(text):
    assert _uuid_bytes(text) == uuid.UUID(text).bytes


def test_an_honest_log_verifies_against_its_checkpoints_and_a_saved_one():
    records = make_log(21)
    saved = signed(records, 13)
    report = verify(exported(records, 8, 13), saved=saved)
    assert report.ok, report.failures
    assert report.events == 21 and report.last_position == 21
    assert report.root == root([leaf_of(r) for r in records])
    assert report.head is not None and report.head.checkpoint.size == 21
    assert report.head.source == "the log's checkpoint" and report.verified == 4


def test_gaps_in_positions_are_allowed_when_the_log_recorded_them_so():
    """PostgreSQL skips the numbers of refused writes; the leaves stay contiguous."""
    records = make_log(6, positions=[1, 2, 5, 6, 9, 10])
    assert verify(exported(records)).ok


def test_an_edited_payload_is_named_exactly():
    records = make_log(12)
    records[6]["state"] = records[6]["state"].replace("workshop", "worksh0p")
    assert first(exported(records)).startswith("first bad position: 7 — the event does not "
                                               "hash to the leaf the log recorded")


def test_a_deleted_event_is_named_by_the_leaf_index_that_follows_it():
    records = make_log(12)
    stream = exported(records)
    del stream[4]
    assert first(stream).startswith("first bad position: 5 — 1 event(s) the log recorded "
                                    "before position 6 are missing")


def test_a_deleted_event_next_to_a_gap_is_bounded():
    records = make_log(5, positions=[1, 2, 5, 6, 7])
    stream = exported(records)
    del stream[2]  # position 5: it, 3 or 4 could have been the one removed
    assert first(stream).startswith("first bad position is in (2, 5]")


def test_swapped_events_are_named_at_the_earlier_position():
    records = make_log(12)
    a, b = records[3], records[8]
    for field in ("originator_id", "originator_version", "state"):
        a[field], b[field] = b[field], a[field]
    assert first(exported(records)).startswith("first bad position: 4 —")


def test_lines_out_of_order_or_repeated_are_named():
    records = make_log(8)
    stream = exported(records)
    stream[3], stream[4] = stream[4], stream[3]
    assert first(stream).startswith("first bad position: 4 —")
    repeated = exported(records)
    repeated.insert(5, repeated[4])
    assert first(repeated).startswith("first bad position: 6 — position 5 comes after 5")


def test_an_inserted_event_is_named_where_it_went_in():
    """Later events moved up one position; the leaves the log recorded stayed put."""
    records = make_log(10)
    recorded = {r["position"]: (r["leaf_index"], r["leaf_hash"]) for r in records}
    forged = dict(records[4], originator_id=str(uuid.uuid4()))
    moved = [*records[:5], forged, *records[5:]]
    tampered = []
    for position, record in enumerate(moved, start=1):
        record = {k: v for k, v in record.items() if k not in ("leaf_index", "leaf_hash")}
        if position in recorded:
            record["leaf_index"], record["leaf_hash"] = recorded[position]
        tampered.append({**record, "position": position})
    assert first([*tampered, {"checkpoint": signed(records, 10)}]).startswith(
        "first bad position: 6 — the event does not hash to the leaf the log recorded")


def test_an_event_the_log_never_recorded_is_named_even_in_a_gap():
    records = make_log(6, positions=[1, 2, 4, 5, 6, 7])
    forged = dict(records[1], position=3, originator_id=str(uuid.uuid4()))
    del forged["leaf_index"], forged["leaf_hash"]
    stream = exported(records)
    stream.insert(2, forged)
    assert first(stream).startswith("first bad position: 3 — this event is not in the log")


def test_a_log_not_yet_caught_up_may_end_without_recorded_leaves():
    records = make_log(7)
    for record in records[5:]:
        del record["leaf_index"], record["leaf_hash"]
    stream = exported(make_log(7))[:-1]
    stream[5:7] = records[5:]
    leaves = [leaf_of(r) for r in records]
    note = KEY.sign(Checkpoint(KEY.name, 7, root(leaves), WHEN))
    assert verify([*stream, {"checkpoint": note}]).ok


def test_a_truncated_log_names_the_first_missing_position_from_a_saved_checkpoint():
    records = make_log(20)
    saved = signed(records, 18)
    assert first(exported(records[:11]), saved).startswith(
        "first bad position: 12 — rolled back or truncated: your saved checkpoint of size 18")


def test_a_log_rewritten_with_its_leaf_hashes_is_bounded_by_checkpoints():
    records = make_log(30)
    honest = [signed(records, n) for n in (8, 16, 24, 30)]
    records[18]["state"] = records[18]["state"].replace("workshop", "worksh0p")
    records[18]["leaf_hash"] = leaf_of(records[18]).hex()  # rewritten as well
    stream = []
    for count, record in enumerate(records):
        stream += [{"checkpoint": honest[i]} for i, n in enumerate((8, 16, 24)) if n == count]
        stream.append(record)
    stream.append({"checkpoint": honest[3]})
    assert first(stream).startswith("first bad position is in (16, 24] — the events do not "
                                    "hash to the root of the log's checkpoint of size 24")
    only_saved = [*records, {"checkpoint": honest[3]}]
    assert first(only_saved, saved=honest[3]).startswith("first bad position is in (0, 30]")


def test_adjacent_checkpoints_pin_a_rewritten_event_exactly():
    records = make_log(10)
    honest = {n: signed(records, n) for n in (6, 7)}
    records[6]["state"] = "{}"
    records[6]["leaf_hash"] = leaf_of(records[6]).hex()
    stream = [*records[:6], {"checkpoint": honest[6]}, records[6], {"checkpoint": honest[7]},
              *records[7:], {"checkpoint": signed(records, 10)}]
    assert first(stream).startswith("first bad position: 7 —")


def test_a_forged_or_foreign_checkpoint_does_not_verify():
    records = make_log(9)
    impostor = SigningKey.generate()
    forged = SigningKey(impostor.private_key, name=KEY.name)  # the log's name, not its key
    stream = [*records, {"checkpoint": signed(records, 9, forged)}]
    assert first(stream).startswith("bad checkpoint (size 9) — the log's checkpoint does "
                                    "not verify: the note carries no signature")
    altered = signed(records, 9).replace("\n9\n", "\n8\n", 1)
    assert "does not verify: the signature" in first([*records[:8], {"checkpoint": altered}])


def test_an_older_checkpoint_in_place_of_the_latest_is_reported():
    records = make_log(12)
    stream = [*records, {"checkpoint": signed(records, 9)}]
    assert first(stream).startswith("bad checkpoint (size 9) — the last checkpoint is the "
                                    "log's checkpoint of size 9")


def test_an_export_without_a_checkpoint_is_not_verified():
    report = verify(make_log(4))
    assert not report.ok
    assert "no signed checkpoint covers the 4 events" in str(report.first)


def test_malformed_lines_name_where_the_export_broke():
    lines = [json.dumps({"format": "coopreg-events/1"}),
             *(json.dumps(r) for r in make_log(3)), "{not json", ""]
    report = verify(list(export_records(lines)))
    assert str(report.first).startswith("first bad position: 4 — line 5 is not JSON")
    wrong = verify(list(export_records([json.dumps({"format": "other/2"})])))
    assert "unknown export format 'other/2'" in str(wrong.first)
    missing = make_log(2)
    del missing[1]["topic"]
    assert "malformed event record (KeyError" in first(missing)


def test_the_worked_example_of_docs_audit_md():
    """The numbers a second implementation checks itself against."""
    events = [
        (1, "00000000-0000-4000-8000-000000000001", 1,
         "registry.domain.partner:Partner.Registered", '{"partner_id":"ohchr"}'),
        (2, "00000000-0000-4000-8000-000000000002", 1,
         "registry.domain.agreement:Agreement.Registered", '{"reference":"ohchr-odihr-2014"}'),
        (3, "00000000-0000-4000-8000-000000000001", 2,
         "registry.domain.action:Action.Amended", '{"summary":"Réunion conjointe — Genève"}')]
    records = [{"position": p, "originator_id": o, "originator_version": v, "topic": t,
                "state": s} for p, o, v, t, s in events]
    assert [leaf_of(r).hex() for r in records] == [
        "439cb26aa2662073d087f90ae98d00e1575074e03f5b8b2f0eb1161c127c5bf1",
        "7e06780a999051059a9b6a3ed8acbaf925204950b21bf51d757fd81d1e7ed8a7",
        "598d45d2f59722d34db14941bbc5e198a5b9791de70bafd23cd613f5c161b181"]
    seed = hashlib.sha256(b"coopreg worked example").digest()
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(seed))
    assert key.verifier.vkey() == ("coopreg/df8052b5+386fc18c+"
                                   "AU2B7zhCxpZvVqwKUv8TlbF4d+ch05jHG0QLvu5Z88vt")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    note = key.sign(Checkpoint(key.name, 3, root([leaf_of(r) for r in records]), when))
    assert note == (
        "coopreg/df8052b5\n3\nXisUuPNNRV4EohQnYy0HmfxwjEXb0fUo33d4KNm3anY=\n"
        "timestamp 2026-01-02T03:04:05.000000Z\n\n— coopreg/df8052b5 OG/BjLmk82xqcELGTOf7WMeYT4"
        "tHklt+amy5pyn6uy7O7BjsaDJYqjlVc9fR+OsjzLLtSLA39xMeNb4TjDKvFWCb+QI=\n")
    report = verify_records([*records, {"checkpoint": note}], key.verifier)
    assert report.ok and report.root.hex() == (
        "5e2b14b8f34d455e04a21427632d0799fc708c45dbd1f528df777828d9b76a76")


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 70))
def test_the_verifiers_tree_is_the_logs_for_every_size(size):
    records = make_log(size)
    report = verify([*records, {"checkpoint": signed(records, size)}])
    assert report.ok and report.root == root([leaf_of(r) for r in records])


def test_every_verifier_key_reads_back_even_when_its_base64_holds_a_plus():
    for _ in range(64):
        key = SigningKey.generate()
        assert VerifierKey.parse(key.verifier.vkey()) == key.verifier


def fed(records: list[dict], runs: list[tuple[int, int]], checkpoints: list[int],
        block: int = 0):
    """A verifier fed `records` as runs (slices start:stop taken whole by `run`, with the
    roots of their aligned blocks of `block` leaves if given), the rest leaf by leaf, with
    checkpoints of the given sizes; its report."""
    verifier = LogVerifier(KEY.verifier)
    for size in checkpoints:
        verifier.checkpoint(signed(records, size), "a checkpoint")
    whole = {start: stop for start, stop in runs}
    i = 0
    while i < len(records):
        if i in whole:
            part = records[i:whole[i]]
            leaves = b"".join(bytes.fromhex(r["leaf_hash"]) for r in part)
            roots = block_roots(part[0]["leaf_index"], leaves, block) if block else b""
            ok = verifier.run(part[0]["position"], part[0]["leaf_index"], leaves, roots,
                              block)
            i = whole[i]
        else:
            r = records[i]
            ok = verifier.leaf(r["position"], leaf_of(r), r["leaf_index"], r["leaf_hash"])
            i += 1
        if not ok:
            break
    return verifier.finish(require_head=False)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 70), st.data())
def test_runs_taken_whole_verify_as_leaf_by_leaf(size, data):
    """Checkpoints inside a run are checked where they fall, with the same root; so are
    those inside a block of leaves that joins the tree as one subtree."""
    records = make_log(size)
    cut = sorted(data.draw(st.sets(st.integers(0, size), max_size=4)) | {0, size})
    runs = [pair for pair in pairwise(cut) if data.draw(st.booleans())]
    checkpoints = data.draw(st.lists(st.integers(1, size), max_size=4))
    block = data.draw(st.sampled_from([0, 1, 2, 4, 8, 16]))
    by_run, by_leaf = fed(records, runs, checkpoints, block), fed(records, [], checkpoints)
    assert by_run.ok and by_leaf.ok
    assert (by_run.root, by_run.events, by_run.last_position, by_run.verified) == (
        by_leaf.root, by_leaf.events, by_leaf.last_position, by_leaf.verified)
    assert by_run.verified == len(checkpoints)


def test_a_run_that_does_not_continue_the_log_is_judged_leaf_by_leaf():
    """A run after a deleted event (it starts at leaf 5 where 4 came before) is named as
    the same events fed one by one would be."""
    records = make_log(12)
    del records[4]
    by_run = fed(records, [(4, 11)], [])
    by_leaf = fed(records, [], [])
    assert not by_run.ok
    assert str(by_run.first) == str(by_leaf.first)
    assert by_run.first.position == 5, by_run.first
