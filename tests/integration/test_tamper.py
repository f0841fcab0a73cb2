"""The tamper matrix (docs/audit.md): a malicious administrator changes the database behind
the registry's back (append-only triggers switched off) and both verifiers catch it:
`coopreg audit verify` on an export taken afterwards, against the checkpoint an auditor saved
before, and `coopreg verify` on the live store. Each names the first bad position.

The registry is built once per store (36 events, checkpoints signed at 8, 16, 24, 32 and 36,
a copy taken at 16) and put back before every case, so the matrix stays fast."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from registry.audit_cli import file_reads
from registry.bootstrap import open_registry
from registry.cli import main
from registry.ledger import sqlite_leaves
from registry.ledger.merkle import block_roots
from registry.ledger.notary import KEY_ENV, witness_path
from registry.ledger.notes import SigningKey, parse_body
from registry.projections import Follower
from registry.schemas import load_command
from tests.conftest import (
    PG_DSN,
    TODAY,
    action,
    agreement,
    partner,
    postgres_unavailable,
    require_postgres,
)

EARLIER, HEAD = 16, 36  # the copy is taken at 16 events; the auditor saves the head
SIGNED_AT = (8, 16, 24, 32, 36)
P, Q = 20, 27  # the events tampered with (actions recorded after the copy)


# -- the database as its administrator sees it -------------------------------------------

class SqliteFile:
    """A SQLite registry file; changes go through a raw connection with the triggers
    dropped and then recreated."""

    position, checkpoints = "rowid", "log_checkpoints"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.events = "stored_events"
        self.leaves = "ledger_leaves"

    def tamper(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        with sqlite3.connect(self.path) as conn:
            triggers = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
            for name, _ in triggers:
                conn.execute(f"DROP TRIGGER {name}")
            for statement, params in statements:
                conn.execute(self.sql(statement), params)
            for _, sql in triggers:
                conn.execute(sql)
        conn.close()

    def one(self, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
        with sqlite3.connect(self.path) as conn:
            row = conn.execute(self.sql(statement), params).fetchone()
        conn.close()
        return row

    def sql(self, statement: str) -> str:
        return statement.format(events=self.events, pos=self.position,
                                checkpoints=self.checkpoints, leaves=self.leaves)

    def originator(self, value: uuid.UUID) -> Any:
        return value.hex  # as eventsourcing's SQLite recorder stores it

    def snapshot(self, name: str) -> None:
        _copy_sqlite(self.path, self.path.with_name(f"{name}.db"))

    def restore(self, name: str) -> None:
        _copy_sqlite(self.path.with_name(f"{name}.db"), self.path)

    def drop(self) -> None:
        """Files go with pytest's temporary folder."""


def _copy_sqlite(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


class PostgresSchema:
    """A PostgreSQL schema; changes run as superuser with session_replication_role set to
    replica, which switches the triggers off for the session."""

    position = "notification_id"

    def __init__(self, schema: str, events: str) -> None:
        self.schema = schema
        self.url = f"{PG_DSN}?schema={schema}"
        self.events = f'"{schema}"."{events}"'
        self.checkpoints = f'"{schema}".log_checkpoints'
        self.leaves = f'"{schema}".ledger_leaves'

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(PG_DSN)

    def tamper(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        with self.connect() as conn:
            conn.execute("SET session_replication_role = replica")
            for statement, params in statements:
                conn.execute(self.sql(statement), params)

    def one(self, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
        with self.connect() as conn:
            return conn.execute(self.sql(statement), params).fetchone()

    def sql(self, statement: str) -> str:
        return statement.format(events=self.events, pos=self.position,
                                checkpoints=self.checkpoints, leaves=self.leaves).replace("?", "%s")

    def originator(self, value: uuid.UUID) -> Any:
        return value

    def tables(self, conn: Any, schema: str) -> list[str]:
        return [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE'", (schema,))]

    def snapshot(self, name: str) -> None:
        copy = f"{self.schema}_{name}"
        with self.connect() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{copy}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{copy}"')
            for table in self.tables(conn, self.schema):
                conn.execute(f'CREATE TABLE "{copy}"."{table}" AS '
                             f'SELECT * FROM "{self.schema}"."{table}"')

    def restore(self, name: str) -> None:
        """Every table's rows put back as they were (a restored dump), sequences too."""
        copy = f"{self.schema}_{name}"
        with self.connect() as conn:
            conn.execute("SET session_replication_role = replica")
            for table in self.tables(conn, copy):
                conn.execute(f'DELETE FROM "{self.schema}"."{table}"')
                conn.execute(f'INSERT INTO "{self.schema}"."{table}" '
                             f'SELECT * FROM "{copy}"."{table}"')
            serials = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE "
                "table_schema = %s AND column_default LIKE 'nextval%%'", (self.schema,))
            for table, column in serials.fetchall():
                name = f'"{self.schema}"."{table}"'
                conn.execute(f"SELECT setval(pg_get_serial_sequence(%s, %s), "
                             f"COALESCE((SELECT MAX({column}) FROM {name}), 0) + 1, false)",
                             (name, column))

    def drop(self) -> None:
        with self.connect() as conn:
            for suffix in ("", "_earlier", "_baseline"):
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}{suffix}" CASCADE')


Store = SqliteFile | PostgresSchema


# -- the registry before anyone tampers with it ------------------------------------------

@dataclass
class Registry:
    store: Store
    folder: Path
    key_path: Path
    vkey: str
    saved: Path  # the auditor's copy of the head checkpoint
    witness: str

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["--db", self.store.url, *args])

    def audit_verify(self, *export_options: str) -> Result:
        export = self.folder / "export.ndjson"
        exported = self.cli("export", str(export), *export_options)
        assert exported.exit_code == 0, exported.output
        return self.cli("audit", "verify", "--export", str(export), "--public-key", self.vkey,
                        "--checkpoint", str(self.saved))

    def verify(self, *options: str) -> Result:
        return self.cli("verify", "--checkpoint", str(self.saved), *options)


def record(url: str, key_path: Path, count: int, first: int) -> None:
    services = open_registry(url, today=lambda: TODAY, signing_key=key_path)
    try:
        commands = []
        if first == 0:
            commands = [partner(p) for p in ("ohchr", "osce-odihr", "un-desa")] + [agreement()]
        commands += [action(summary=f"Workshop {n} on UPR follow-up",
                            occurred_on=f"2015-{n % 12 + 1:02d}-{n % 27 + 1:02d}")
                     for n in range(first, count - len(commands) + first)]
        services.app.execute_batch([load_command(c) for c in commands], by="admin:test")
        services.follower.catch_up()
        for size in SIGNED_AT:
            if services.ledger.size() >= size:
                services.notary.checkpoint(size)
    finally:
        services.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def built(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[Registry]:
    folder = tmp_path_factory.mktemp(f"tamper-{request.param}")
    store: Store
    if request.param == "sqlite":
        store = SqliteFile(folder / "registry.db")
    else:
        store = _postgres_store(request)
    key_path = folder / "log.signing-key"
    key = SigningKey.create(key_path)
    try:
        record(store.url, key_path, EARLIER, 0)
        store.snapshot("earlier")
        record(store.url, key_path, HEAD - EARLIER, EARLIER)
        store.snapshot("baseline")
        head = witness_path(key_path).read_text()
        saved = folder / "auditor.checkpoint"
        saved.write_text(head)
        yield Registry(store, folder, key_path, key.verifier.vkey(), saved, head)
    finally:
        store.drop()


def _postgres_store(request: pytest.FixtureRequest) -> PostgresSchema:
    require_postgres(postgres_unavailable())
    import psycopg

    schema = f"coopreg_tamper_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    services = open_registry(f"{PG_DSN}?schema={schema}", today=lambda: TODAY)
    events = services.app.event_table.name
    services.close()
    return PostgresSchema(schema, events)


@pytest.fixture
def registry(built: Registry, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The built registry as it was, its witness file too, before each case."""
    built.store.restore("baseline")
    witness_path(built.key_path).write_text(built.witness)
    monkeypatch.setenv(KEY_ENV, str(built.key_path))
    return built


# -- what the administrator does -----------------------------------------------------------

def edit_payload(store: Store) -> None:
    state = bytes(store.one("SELECT state FROM {events} WHERE {pos} = ?", (P,))[0])
    assert b"Workshop" in state
    store.tamper(("UPDATE {events} SET state = ? WHERE {pos} = ?",
                  (state.replace(b"Workshop", b"Worksh0p", 1), P)))


def delete_event(store: Store) -> None:
    store.tamper(("DELETE FROM {events} WHERE {pos} = ?", (P,)))


def swap_events(store: Store) -> None:
    store.tamper(("UPDATE {events} SET {pos} = -1 WHERE {pos} = ?", (P,)),
                 ("UPDATE {events} SET {pos} = ? WHERE {pos} = ?", (P, Q)),
                 ("UPDATE {events} SET {pos} = ? WHERE {pos} = -1", (Q,)))


def insert_forged_event(store: Store) -> None:
    """A copy of event P under a new aggregate, slipped in at P; later events move up."""
    _, version, topic, state = store.one(
        "SELECT originator_id, originator_version, topic, state FROM {events} "
        "WHERE {pos} = ?", (P,))
    store.tamper(
        ("UPDATE {events} SET {pos} = -{pos} - 1 WHERE {pos} >= ?", (P,)),
        ("UPDATE {events} SET {pos} = -{pos} WHERE {pos} < 0", ()),
        ("INSERT INTO {events} (originator_id, originator_version, topic, state, {pos}) "
         "VALUES (?, ?, ?, ?, ?)", (store.originator(uuid.uuid4()), version, topic,
                                    bytes(state).replace(b"Workshop", b"Festival", 1), P)))


def edit_recorded_leaf(store: Store) -> None:
    """The leaf hash the log recorded for event P replaced by event Q's; the events and
    checkpoints are left as they were."""
    other = store.one("SELECT leaf_hash FROM {leaves} WHERE position = ?", (Q,))[0]
    store.tamper(("UPDATE {leaves} SET leaf_hash = ? WHERE position = ?", (other, P)))


def truncate_tail(store: Store) -> None:
    store.tamper(("DELETE FROM {events} WHERE {pos} >= ?", (P,)))


def forge_latest_checkpoint(store: Store) -> None:
    """The head's note re-signed by a key of the attacker's under the log's name."""
    note = store.one("SELECT note FROM {checkpoints} WHERE size = ?", (HEAD,))[0]
    name = note.split("\n")[0]
    impostor = SigningKey(SigningKey.generate().private_key, name=name)
    body = note.partition("\n\n")[0] + "\n"
    forged = impostor.sign(parse_body(body, name))
    store.tamper(("UPDATE {checkpoints} SET note = ? WHERE size = ?", (forged, HEAD)))


def older_checkpoint_as_latest(store: Store) -> None:
    older = store.one("SELECT note FROM {checkpoints} WHERE size = ?", (32,))[0]
    store.tamper(("UPDATE {checkpoints} SET note = ? WHERE size = ?", (older, HEAD)))


def roll_back(store: Store) -> None:
    store.restore("earlier")


def rewrite_with_leaves(store: Store) -> None:
    """Edit event P, then rebuild the transparency log from the edited events, as a
    `coopreg replay` would: every recorded leaf now matches; only checkpoints disagree."""
    edit_payload(store)
    services = open_registry(store.url, today=lambda: TODAY)
    try:
        ledger = [p for p in services.projections if p.name == "ledger"]
        ledger[0].reset()
        Follower(services.app, ledger).catch_up()
    finally:
        services.close()


Tamper = Callable[[Store], None]

# case: (tampering, export options, what `audit verify` says first, what `verify` says)
MATRIX: dict[str, tuple[Tamper, tuple[str, ...], str, str]] = {
    "edit one payload byte": (
        edit_payload, (), f"first bad position: {P} — the event does not hash",
        f"first bad position: {P} — the event does not hash"),
    "delete an event": (
        delete_event, (), f"first bad position: {P} — 1 event(s) the log recorded",
        f"first bad position: {P} — 1 event(s) the log recorded"),
    "swap two events": (
        swap_events, (), f"first bad position: {P} — the event does not hash",
        f"first bad position: {P} — the event does not hash"),
    "insert a forged event": (
        insert_forged_event, (), f"first bad position: {P} — the event does not hash",
        f"first bad position: {P} — the event does not hash"),
    "edit a recorded leaf": (
        edit_recorded_leaf, (), f"first bad position: {P} — the event does not hash",
        f"first bad position: {P} — the event does not hash"),
    "truncate the tail": (
        truncate_tail, (), f"first bad position: {P} — rolled back or truncated",
        f"first bad position: {P} — rolled back or truncated"),
    "forge the latest checkpoint": (
        forge_latest_checkpoint, (), f"bad checkpoint (size {HEAD}) — the log's checkpoint "
        "does not verify", f"bad checkpoint (size {HEAD}) — the database's checkpoint does "
        "not verify"),
    "an older checkpoint as the latest": (
        older_checkpoint_as_latest, (), "bad checkpoint (size 32) — the last checkpoint is "
        "the log's checkpoint of size 32", f"bad checkpoint (size {HEAD}) — the database "
        f"stores a checkpoint of size 32 under size {HEAD}"),
    "roll the database back": (
        roll_back, (), f"first bad position: {EARLIER + 1} — rolled back or truncated",
        f"first bad position: {EARLIER + 1} — rolled back or truncated"),
    "rewrite events and their leaves": (
        rewrite_with_leaves, ("--all-checkpoints",), "first bad position is in (16, 24] — "
        "the events do not hash to the root of the log's checkpoint of size 24",
        "first bad position is in (16, 24] — the events do not hash to the root of the "
        "database's checkpoint of size 24"),
}


def test_the_untampered_registry_passes_both_verifiers(registry: Registry):
    audited = registry.audit_verify()
    assert audited.exit_code == 0, audited.output
    assert f"verified {HEAD} events" in audited.stdout
    live = registry.verify()  # with the replay of every read model
    assert live.exit_code == 0, live.output
    assert f"verified {HEAD} events" in live.stdout


def reads_of(registry: Registry) -> sqlite_leaves.Reads:
    """How `coopreg verify`'s workers read this registry's file."""
    services = open_registry(registry.store.url, today=lambda: TODAY)
    try:
        return file_reads(services)
    finally:
        services.close()


SQLITE_ONLY = pytest.mark.parametrize("built", ["sqlite"], indirect=True)  # PostgreSQL is
# read page by page in the verifying process, not by workers


@SQLITE_ONLY
def test_a_file_hashed_in_ranges_by_workers_gives_the_same_leaves(registry: Registry,
                                                                  monkeypatch: pytest.MonkeyPatch):
    assert isinstance(registry.store, SqliteFile)
    short_way = reads_of(registry)
    joined_only = sqlite_leaves.Reads(short_way.joined, short_way.last)
    path = str(registry.store.path)
    in_process = list(sqlite_leaves.file_leaves(path, short_way))
    monkeypatch.setattr(sqlite_leaves, "CHUNK", 5)
    monkeypatch.setattr(sqlite_leaves, "BLOCK", 2)  # ranges of 5 leaves hold whole blocks
    in_workers = list(sqlite_leaves.file_leaves(path, short_way))
    assert list(sqlite_leaves.file_leaves(path, joined_only)) == in_workers
    runs = [item for item in in_workers if isinstance(item, sqlite_leaves.Run)]
    assert len(runs) == len(range(0, HEAD, 5))  # a healthy log: every range matched whole
    each = [(run.position + i, run.leaves[32 * i:32 * i + 32], run.leaf_index + i)
            for run in runs for i in range(len(run.leaves) // 32)]
    assert each == [(p, leaf, index) for p, leaf, index, _ in in_process]
    assert all(run.block == 2 and run.roots == block_roots(run.leaf_index, run.leaves, 2)
               for run in runs)
    assert sum(len(run.roots) // 32 for run in runs) == 2 * (HEAD // 5)  # 2 per full range
    assert [p for p, *_ in in_process] == list(range(1, HEAD + 1))
    assert all(leaf.hex() == recorded for _, leaf, _, recorded in in_process)
    in_workers = registry.verify("--skip-replay")
    assert in_workers.exit_code == 0, in_workers.output


@SQLITE_ONLY
@pytest.mark.parametrize("case", list(MATRIX))
def test_a_tampered_range_is_read_again_joined_by_the_workers(
        registry: Registry, case: str, monkeypatch: pytest.MonkeyPatch):
    """Whatever was done to the file, a worker's short way gives what reading every range
    joined gives: the same runs where nothing changed, the same rows where it did."""
    assert isinstance(registry.store, SqliteFile)
    MATRIX[case][0](registry.store)
    short_way = reads_of(registry)
    monkeypatch.setattr(sqlite_leaves, "CHUNK", 5)
    monkeypatch.setattr(sqlite_leaves, "BLOCK", 2)
    path = str(registry.store.path)
    joined_only = sqlite_leaves.Reads(short_way.joined, short_way.last)
    assert (list(sqlite_leaves.file_leaves(path, short_way))
            == list(sqlite_leaves.file_leaves(path, joined_only)))
    taken = []  # per range: did the short way give its run?
    with closing(sqlite_leaves.read_only(path)) as conn:
        for start in range(0, HEAD, 5):
            rows = conn.execute(short_way.joined, (start, start + 5))
            run = sqlite_leaves.matched_run(conn, short_way, start, start + 5)
            if run is not None:  # else that range is read joined: the short way may decline
                assert run == sqlite_leaves.as_run(list(sqlite_leaves.hashed(rows)), 2), start
            taken.append(run is not None)
    assert taken[0]  # the ranges before P are untouched
    unchanged = "checkpoint" in case or case == "rewrite events and their leaves"
    assert all(taken) == unchanged, taken  # the events or their recorded leaves changed


@SQLITE_ONLY
@pytest.mark.parametrize("value", ["CAST(leaf_hash AS BLOB)", "leaf_index || 'x'",
                                   "leaf_index + 0.5"], ids=["hash-blob", "index-text",
                                                             "index-real"])
def test_the_short_way_declines_recorded_leaves_of_another_type(
        registry: Registry, value: str, monkeypatch: pytest.MonkeyPatch):
    """A recorded leaf whose hash became a blob of the same text, or whose index became
    text or a fraction, is not what the joined reading matches: so neither may the short
    way (`typeof` in its aggregate)."""
    column = "leaf_hash" if "hash" in value else "leaf_index"
    registry.store.tamper((f"UPDATE {{leaves}} SET {column} = {value} WHERE position = ?", (P,)))
    short_way = reads_of(registry)
    with closing(sqlite_leaves.read_only(str(registry.store.path))) as conn:
        assert sqlite_leaves.matched_run(conn, short_way, 15, 20) is None
        assert sqlite_leaves.matched_run(conn, short_way, 20, 25) is not None
    monkeypatch.setattr(sqlite_leaves, "CHUNK", 5)
    in_workers = registry.verify("--skip-replay")
    assert in_workers.exit_code == 1, in_workers.output
    assert in_workers.stdout.startswith(f"first bad position: {P}"), in_workers.stdout


@pytest.mark.parametrize("case", list(MATRIX))
def test_tampering_is_caught_and_its_first_bad_position_named(
        registry: Registry, case: str, monkeypatch: pytest.MonkeyPatch):
    tamper, export_options, audit_says, verify_says = MATRIX[case]
    tamper(registry.store)
    audited = registry.audit_verify(*export_options)
    assert audited.exit_code == 1, audited.output
    assert audited.stdout.splitlines()[0].startswith(audit_says), audited.stdout
    live = registry.verify("--skip-replay")
    assert live.exit_code == 1, live.output
    assert live.stdout.splitlines()[0].startswith(verify_says), live.stdout
    if isinstance(registry.store, SqliteFile):  # a large file's events are hashed by workers
        monkeypatch.setattr(sqlite_leaves, "CHUNK", 5)
        monkeypatch.setattr(sqlite_leaves, "BLOCK", 2)
        in_workers = registry.verify("--skip-replay")
        assert in_workers.exit_code == 1, in_workers.output
        assert in_workers.stdout.splitlines()[0] == live.stdout.splitlines()[0]


def test_a_database_rolled_back_is_caught_by_the_witness_file_alone(registry: Registry):
    """No auditor's checkpoint needed: the witness beside the key remembers the head."""
    roll_back(registry.store)
    live = registry.cli("verify", "--skip-replay")
    assert live.exit_code == 1
    assert live.stdout.startswith(f"first bad position: {EARLIER + 1} — rolled back or "
                                  "truncated: the witness file's checkpoint of size 36")


def test_a_replay_catches_read_models_that_no_longer_match_their_events(registry: Registry):
    """The log and the events agree, but a read model was edited directly."""
    registry.store.tamper(("UPDATE partner_versions SET name = 'Somebody else'"
                           if isinstance(registry.store, SqliteFile) else
                           f'UPDATE "{registry.store.schema}".partner_versions '
                           "SET name = 'Somebody else'", ()))
    live = registry.verify()
    assert live.exit_code == 1
    assert "the partners read model differs from a fresh replay" in live.stdout
    assert registry.verify("--skip-replay").exit_code == 0
