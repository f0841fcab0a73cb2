"""The auditors' commands: `coopreg audit verify` checks an export or a server against the
log's public key with no database at all; `coopreg verify` checks the live store end to end;
`coopreg audit key` and `coopreg audit checkpoint` give an auditor what to save. The rules
are one implementation, `registry.ledger.verifier`; here are only the sources that feed it
(docs/audit.md)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import click
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.bootstrap import Services, open_registry
from registry.cli import UserError, audit, main, progress_bar, services
from registry.io import LogExport, recorded_leaves
from registry.ledger.notary import NoSigningKey, read_witness
from registry.ledger.notes import CheckpointInvalid, VerifierKey, open_note
from registry.ledger.sqlite_leaves import Leaf, Reads, Run, file_leaves, hashed
from registry.ledger.verifier import (
    Failure,
    LogVerifier,
    Report,
    export_records,
    server_records,
    verify_records,
)
from registry.projections import Follower
from registry.timetravel import copy_events

PAGE = 20_000


# -- shared with `coopreg export` ----------------------------------------------------------

def catch_up_log(s: Services) -> int:
    """Bring the transparency log (only it) up to the stored events; its size. Other read
    models are left alone: a verifier must not need them to be healthy."""
    Follower(s.app, [p for p in s.projections if p.name == "ledger"]).catch_up()
    return s.ledger.size()


def log_export(s: Services, all_checkpoints: bool) -> LogExport:
    size = catch_up_log(s)
    stored = s.notary.notes() if all_checkpoints else []

    def checkpoint(count: int) -> str | None:
        try:
            return s.notary.checkpoint(count).note
        except NoSigningKey:
            return None

    return LogExport(recorded_leaves(s.queries.sql), checkpoint, size, stored)


# -- keys and notes ------------------------------------------------------------------------

def load_verifier_key(value: str) -> VerifierKey:
    """A vkey (`name+hash+key`), or a file holding one or a PEM public key (named as the
    registry names its keys: coopreg/ and the first 8 hex digits of SHA-256 of the key)."""
    path = Path(value).expanduser()
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else value
        if "-----BEGIN PUBLIC KEY-----" in text:
            return _pem_key(text)
        lines = [line.strip() for line in text.splitlines() if line.count("+") >= 2]
        return VerifierKey.parse(lines[0] if lines else text)
    except (CheckpointInvalid, ValueError, UnsupportedAlgorithm, OSError) as error:
        raise UserError(f"--public-key: {error}") from None


def _pem_key(text: str) -> VerifierKey:
    start = text.index("-----BEGIN PUBLIC KEY-----")
    key = serialization.load_pem_public_key(text[start:].encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the PEM key is not an Ed25519 key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return VerifierKey(f"coopreg/{hashlib.sha256(raw).hexdigest()[:8]}", raw)


def read_note(path: str | None, option: str) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"{option}: {error}") from None


# -- output ---------------------------------------------------------------------------------

def show(report: Report, seconds: float, as_json: bool, what: str,
         notes: list[str] | None = None) -> None:
    rate = report.events / seconds if seconds > 0 else 0.0
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "seconds": round(seconds, 3),
                               "events_per_second": round(rate), "notes": notes or []},
                              indent=2))
    elif report.ok:
        head = report.head.describe() if report.head else "no signed checkpoint yet"
        click.echo(f"{what}: verified {report.events} events (last position "
                   f"{report.last_position}), root {report.root.hex()}, covered by {head}; "
                   f"checkpoints verified: {report.verified}; {seconds:.2f} s, "
                   f"{rate:,.0f} events/s.")
        for note in notes or []:
            click.echo(f"note: {note}")
    else:
        first = report.first
        click.echo(str(first))
        for failure in sorted(report.failures, key=Failure.sort_key):
            if failure is not first:
                click.echo(f"also: {failure}")
        for note in notes or []:
            click.echo(f"note: {note}")
    if not report.ok:
        sys.exit(1)


# -- coopreg audit verify / key / checkpoint ------------------------------------------------

@audit.command("verify")
@click.option("--export", "export_file", type=click.File("r", encoding="utf-8"), default=None,
              help="an NDJSON export (`coopreg export`; - for stdin)")
@click.option("--url", default=None, help="a registry server, e.g. http://127.0.0.1:8000")
@click.option("--token", envvar="COOPREG_TOKEN", default=None,
              help="an auditor's bearer token for --url [env COOPREG_TOKEN]")
@click.option("--public-key", "public_key", required=True, metavar="VKEY_OR_FILE",
              help="the log's verifier key (`coopreg audit key`), or a file holding it or "
                   "its PEM public key")
@click.option("--checkpoint", "saved_path", default=None, metavar="FILE",
              help="a checkpoint note saved earlier: the log must have only grown since")
@click.option("--save-checkpoint", "save_path", default=None, metavar="FILE",
              help="when all is well, write the verified checkpoint here for next time")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def audit_verify(export_file: TextIO | None, url: str | None, token: str | None,
                 public_key: str, saved_path: str | None, save_path: str | None,
                 as_json: bool) -> None:
    """Verify an export or a server's log with no database: recompute every leaf and the
    root, check the signed checkpoints and that the log only grew since a saved one.
    Exit 0 when all holds; else 1, naming the first bad position."""
    if (export_file is None) == (url is None):
        raise UserError("give exactly one of --export FILE or --url URL")
    key = load_verifier_key(public_key)
    saved = read_note(saved_path, "--checkpoint")
    started = time.perf_counter()
    try:
        records = (export_records(export_file) if export_file is not None
                   else server_records(url or "", token))
        report = verify_records(records, key, saved)
    except urllib.error.HTTPError as error:
        raise UserError(f"{url} answered {error.code} {error.reason}"
                        + (" (give an auditor's --token)" if error.code == 401 else "")
                        ) from None
    except (urllib.error.URLError, OSError) as error:
        raise UserError(f"cannot read the log from {url or 'the export'}: {error}") from None
    except UnicodeDecodeError as error:
        raise UserError(f"the export is not UTF-8 ({error})") from None
    seconds = time.perf_counter() - started
    if report.ok and save_path and report.head:
        Path(save_path).write_text(report.head.note, encoding="utf-8")
    show(report, seconds, as_json, url or getattr(export_file, "name", "export"))


@audit.command("key")
@click.pass_context
def audit_key(ctx: click.Context) -> None:
    """Print the log's verifier key (vkey) and its PEM public key, for auditors."""
    with services(ctx) as s:
        if s.notary.key is None:
            raise UserError("the log has no signing key: run `coopreg init`")
        click.echo(s.notary.key.verifier.vkey())
        click.echo(s.notary.key.verifier.pem(), nl=False)


@audit.command("checkpoint")
@click.option("--size", type=click.IntRange(0), default=None,
              help="a tree size up to the current one (default: the current size)")
@click.pass_context
def audit_checkpoint(ctx: click.Context, size: int | None) -> None:
    """Print the signed checkpoint of the log (signed now if none covers that size yet),
    so an auditor can save it and check later that the log only grew."""
    with services(ctx) as s:
        catch_up_log(s)
        try:
            click.echo(s.notary.checkpoint(size).note, nl=False)
        except (NoSigningKey, ValueError) as error:
            raise UserError(str(error)) from None


# -- coopreg verify -------------------------------------------------------------------------

@main.command("verify")
@click.option("--checkpoint", "saved_path", default=None, metavar="FILE",
              help="a checkpoint note saved earlier: the log must have only grown since")
@click.option("--skip-replay", is_flag=True,
              help="do not rebuild the read models to compare them with the live ones")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.pass_context
def verify(ctx: click.Context, saved_path: str | None, skip_replay: bool,
           as_json: bool) -> None:
    """Check the live store end to end: every event against its recorded leaf, the log
    against every stored checkpoint, the witness file and a saved checkpoint, the stored
    tree against the checkpoints, and the read models against a fresh replay."""
    saved = read_note(saved_path, "--checkpoint")
    with services(ctx) as s:
        if s.notary.key is None:
            raise UserError("the log has no signing key to verify its checkpoints with: "
                            "run `coopreg init`, or give --signing-key")
        started = time.perf_counter()
        catch_up_log(s)
        report, notes = verify_store(s, saved)
        if not skip_replay and report.ok:
            report.failures += replay_differences(s)
        elif not skip_replay:  # tampered events can make a replay fail any way, even hang
            notes.append("the read models were not replayed: the events failed verification")
        show(report, time.perf_counter() - started, as_json, s.database.redacted(), notes)


def verify_store(s: Services, saved: str | None) -> tuple[Report, list[str]]:
    """The shared verifier fed from the store, then what only the store can show."""
    assert s.notary.key is not None
    verifier = LogVerifier(s.notary.key.verifier)
    stored = s.notary.notes()
    for _, note in stored:
        verifier.checkpoint(note, "the database's checkpoint")
    witness = read_witness(s.notary.witness) if s.notary.witness else None
    if witness:
        verifier.checkpoint(witness[1], "the witness file's checkpoint", saved=True)
    if saved is not None:
        verifier.checkpoint(saved, "your saved checkpoint", saved=True)
    for leaves in stored_leaves(s):
        if not (verifier.run(leaves.position, leaves.leaf_index, leaves.leaves,
                             leaves.roots, leaves.block)
                if isinstance(leaves, Run) else verifier.leaf(*leaves)):
            break
    report = verifier.finish(require_head=False)
    report.failures += _stored_checkpoints(s, stored, witness)
    report.failures += _stored_tree(s, report, stored)
    notes = []
    if report.ok and report.head is None:
        covered = max((size for size, _ in stored), default=0)
        notes.append(f"events after leaf {covered} are not yet covered by a signed checkpoint")
    if stored and witness is None and s.notary.witness is not None:
        notes.append(f"no readable witness file at {s.notary.witness}: without it, or a "
                     "saved checkpoint, a database restored from an older copy goes unseen")
    return report, notes


def stored_leaves(s: Services) -> Iterator[Leaf | Run]:
    """(position, leaf hash, recorded leaf index, recorded leaf hash) of every stored event
    in order: its leaf computed here from the event, with what the log recorded (if any);
    or a `Run` of such events that matched the log."""
    table = s.app.event_table
    sql = table.sql
    path = s.database.env.get("SQLITE_DBNAME", "")
    if not sql.postgres and "mode=memory" not in path:  # straight from the file, in workers
        yield from file_leaves(path, file_reads(s))
        return
    statement = sql.q(f"{joined_select(s)} ORDER BY e.{table.position} LIMIT {PAGE}")
    after = 0
    while True:
        with sql.transaction(commit=False) as cursor:
            cursor.execute(statement, (after,))
            rows = cursor.fetchall()
        # sqlite3.Row or psycopg's dict, in the selected order
        yield from hashed(row.values() if isinstance(row, dict) else row for row in rows)
        if rows:
            after = rows[-1][0] if not isinstance(rows[-1], dict) else rows[-1][table.position]
        if len(rows) < PAGE:
            return


def joined_select(s: Services) -> str:
    """The rows `hashed` takes, each event with its recorded leaf (if any), from a
    position on (`?`)."""
    table = s.app.event_table
    sql = table.sql
    return (f"SELECT e.{table.position}, e.originator_id, e.originator_version, e.topic, "
            f"e.state, l.leaf_index, l.leaf_hash FROM {sql.table(table.name)} e "
            f"LEFT JOIN {sql.table('ledger_leaves')} l ON l.position = e.{table.position} "
            f"WHERE e.{table.position} > ?")


def file_reads(s: Services) -> Reads:
    """How workers read a SQLite file's ranges (see `Reads`)."""
    table = s.app.event_table
    events, leaves = table.sql.table(table.name), table.sql.table("ledger_leaves")
    position = table.position
    return Reads(
        joined=f"{joined_select(s)} AND e.{position} <= ? ORDER BY e.{position}",
        last=f"SELECT MAX({position}) FROM {events}",
        events=f"SELECT {position}, originator_id, originator_version, topic, state "
               f"FROM {events} WHERE {position} > ? AND {position} <= ? ORDER BY {position}",
        # SQLite's group_concat takes the rows in the order the index on position gives
        # them (were it ever another, the hashes would differ and the range be read
        # joined: slower, never a wrong answer); a blob sorts after any text.
        recorded="SELECT count(leaf_index), min(position), max(position), "
                 "min(leaf_index - position), max(leaf_index - position), "
                 "typeof(sum(leaf_index)) = 'integer' AND max(leaf_hash) < x'', "
                 f"group_concat(leaf_hash, '') FROM {leaves} "
                 "WHERE position > ? AND position <= ?")


def _stored_checkpoints(s: Services, stored: list[tuple[int, str]],
                        witness: tuple[int, str] | None) -> list[Failure]:
    """Each stored note is of the size it is stored under; the witnessed one is stored."""
    failures = []
    for size, note in stored:
        claimed = note.split("\n")[1] if note.count("\n") > 1 else ""
        if claimed != str(size):
            failures.append(Failure(f"the database stores a checkpoint of size {claimed} "
                                    f"under size {size}", checkpoint=size))
    if witness:
        size, note = witness
        found = dict(stored).get(size)
        if found is None and size <= s.ledger.size():
            failures.append(Failure(f"the witness file holds the checkpoint of size {size}, "
                                    "which the database no longer holds", checkpoint=size))
        elif found is not None and found != note:
            failures.append(Failure(f"the database's checkpoint of size {size} is not the one "
                                    "the witness file holds (it was replaced)", checkpoint=size))
    return failures


def _stored_tree(s: Services, report: Report, stored: list[tuple[int, str]]) -> list[Failure]:
    """The stored tree (which proofs are served from) against the recomputed root and every
    stored checkpoint; the log's size against the events."""
    size = s.ledger.size()
    if report.failures:
        return []
    if size > report.events:
        return [Failure(f"the log recorded {size} leaves, but the store holds "
                        f"{report.events} events", position=report.last_position + 1)]
    failures = []
    if size == report.events and _root(s, size) != report.root:
        failures.append(Failure("the stored tree's root is not the root of the stored "
                                "events (its nodes were altered)"))
    for at, note in stored:
        try:
            checkpoint = open_note(note, s.notary.key.verifier)  # type: ignore[union-attr]
        except CheckpointInvalid:
            continue  # reported by the verifier
        if checkpoint.size <= size and _root(s, checkpoint.size) != checkpoint.root:
            failures.append(Failure(f"the stored tree at size {checkpoint.size} does not match "
                                    "its checkpoint (proofs served from it would fail)",
                                    checkpoint=at))
    return failures


def _root(s: Services, size: int) -> bytes | None:
    try:
        return s.ledger.root(size)
    except LookupError:
        return None


# -- the replay check -----------------------------------------------------------------------

def replay_differences(s: Services) -> list[Failure]:
    """Rebuild every read model in a scratch SQLite file from the same events (at the same
    positions) and compare digests, each read model at the position it has reached. This
    takes as long as a rebuild (minutes at 1M events), so both steps show their progress."""
    reached = s.follower.positions()
    live = s.follower.digests()
    until = max(reached.values(), default=0)
    events = s.app.event_table.count(until=until)
    with tempfile.TemporaryDirectory(prefix="coopreg-verify-") as folder:
        fresh = open_registry(f"sqlite:///{os.path.join(folder, 'replay.db')}",
                              rules=s.projections[0].rules)
        try:
            with progress_bar("copying the events", events) as step:
                copy_events(s, fresh, until, step)
            with progress_bar("replaying the read models", events) as step:
                return _compare_digests(fresh, reached, live, step)
        except Exception as error:  # a tampered event may not even decode
            return [Failure(f"the read models cannot be rebuilt from the events: {error}")]
        finally:
            fresh.close()


def _compare_digests(fresh: Services, reached: dict[str, int], live: dict[str, str],
                     progress: Callable[[int], None]) -> list[Failure]:
    failures = []
    for position in sorted(set(reached.values())):
        fresh.follower.catch_up(until=position, progress=progress)
        rebuilt = fresh.follower.digests()
        for name in sorted(n for n, at in reached.items() if at == position):
            if rebuilt[name] != live[name]:
                failures.append(Failure(f"the {name} read model differs from a fresh replay "
                                        f"of the events up to position {position}"))
    return failures
