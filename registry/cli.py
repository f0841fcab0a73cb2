"""The `coopreg` command: run, load, inspect, export and rebuild the registry."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click
from eventsourcing.persistence import PersistenceError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from registry.bootstrap import Services, open_registry
from registry.config import database_url, parse_database
from registry.domain import RegistryError, ValidationFailed
from registry.io import export_events, import_events
from registry.ledger.notary import KEY_ENV, ensure_key
from registry.plugins import Selection
from registry.projections import ActionFilter, Moment, parse_moment
from registry.schemas import load_command

err = Console(stderr=True)


class UserError(click.ClickException):
    """One clear line on stderr and a non-zero exit; never a traceback."""

    def show(self, file: Any = None) -> None:
        click.echo(f"coopreg: error: {self.message}", err=True)


class MomentType(click.ParamType):
    """A global position or a recorded time (see `registry.projections.parse_moment`)."""

    name = "POSITION|TIMESTAMP"

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> Moment:
        if isinstance(value, int | datetime):
            return value
        try:
            return parse_moment(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


MOMENT = MomentType()
AS_OF_HELP = ("answer as the registry stood then: a position, a date (its end, UTC) or a "
              "date-time (UTC unless it has an offset)")


def describe(error: Exception) -> str:
    if isinstance(error, ValidationFailed):
        return "; ".join(f"{p.field}: {p.message} [{p.rule}]" for p in error.problems)
    return str(error)


@contextmanager
def services(ctx: click.Context) -> Iterator[Services]:
    try:
        registry = open_registry(ctx.obj["db"], plugins=ctx.obj["plugins"])
    except RegistryError as error:
        raise UserError(describe(error)) from None
    except (PersistenceError, OSError, sqlite3.DatabaseError) as error:
        raise UserError(f"cannot open the database {ctx.obj['db'] or '(default)'}: "
                        f"{error}") from None
    try:
        yield registry
    except RegistryError as error:
        raise UserError(describe(error)) from None
    except PersistenceError as error:
        raise UserError(f"database error: {error}") from None
    finally:
        registry.close()


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=not err.is_terminal) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@click.group()
@click.option("--db", envvar="COOPREG_DB", default=None, metavar="URL",
              help="sqlite:///registry.db (default) or postgresql://user@host/dbname "
                   "[env COOPREG_DB]")
@click.option("--plugins", "only", default=None, metavar="NAMES",
              help="load only these plugins, comma-separated [env COOPREG_PLUGINS]")
@click.option("--disable-plugin", "disabled", multiple=True, metavar="NAME",
              help="do not load this plugin (repeatable) [env COOPREG_DISABLE_PLUGINS]")
@click.option("--signing-key", default=None, metavar="PATH",
              help="the log's Ed25519 signing key (default: beside a SQLite file, else "
                   "under ~/.config/coopreg) [env COOPREG_SIGNING_KEY]")
@click.pass_context
def main(ctx: click.Context, db: str | None, only: str | None, disabled: tuple[str, ...],
         signing_key: str | None) -> None:
    """Cooperation Registry: the shared, append-only record of what partner organizations
    agree and do together."""
    selection = Selection.from_env(only=only, disabled=",".join(disabled) or None)
    if signing_key:  # through the environment, so `serve`'s worker processes see it too
        os.environ[KEY_ENV] = str(Path(signing_key).expanduser().resolve())
    ctx.obj = {"db": db, "plugins": selection}


@main.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the event store, the read models and the log's signing key (safe to run
    again: an existing key is kept)."""
    try:
        key_path, created = ensure_key(parse_database(database_url(ctx.obj["db"])))
    except (OSError, RegistryError) as error:
        raise UserError(f"cannot create the signing key: {describe(error)}") from None
    with services(ctx) as s:
        click.echo(f"registry ready at {s.database.redacted()} "
                   f"({s.app.event_table.count()} events)")
        if key_path is not None:
            click.echo(f"signing key {key_path} ({'created' if created else 'kept'}, mode 600)")
            click.echo(f"log public key (vkey): {s.notary.key.verifier.vkey()}")


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Load the demo scenario drawn from the seed documents, then print a summary."""
    from registry.demo import load_demo, scenario

    with services(ctx) as s:
        with progress_bar("loading demo", len(scenario()["commands"])) as advance:
            receipts = load_demo(s.app, advance, catch_up=s.follower.catch_up)
        s.follower.catch_up()
        counts = s.queries.counts()
        click.echo(f"demo loaded into {s.database.redacted()}: {counts['partners']} partners, "
                   f"{counts['agreements']} agreements, {counts['actions']} actions "
                   f"({len(receipts)} commands; last position {max(r.position for r in receipts)})")
        for agreement in s.queries.agreements():
            click.echo(f"  {agreement['id']}: {agreement['title']} ({agreement['signed_on']}, "
                       f"{len(agreement['commitments'])} commitments)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
def start(ctx: click.Context, host: str, port: int, workers: int, threads: int) -> None:
    """Create the signing key (once), load the demo scenario (once), issue demo tokens,
    and serve the API."""
    ctx.invoke(init)
    ctx.invoke(demo)
    with services(ctx) as s:
        tokens = _demo_tokens(s)
        url = f"http://{host}:{port}"
        click.echo(f"\nCooperation Registry at {url}  (OpenAPI: {url}/openapi.json, "
                   f"docs: {url}/docs)\nDemo tokens (shown once; `coopreg token issue` "
                   "makes more):")
        for label, token in tokens:
            click.echo(f"  {label:<12} {token}")
        click.echo(f'  e.g. curl -H "Authorization: Bearer {tokens[0][1]}" '
                   f"{url}/v1/actions?country=UA\n")
        database = s.database.url
    ctx.invoke(serve, host=host, port=port, workers=workers, threads=threads, db_url=database)


def _demo_tokens(s: Services) -> list[tuple[str, str]]:
    from api.auth import TokenStore

    store = TokenStore(s.queries.sql)
    for token in store.list():
        if token["label"].startswith("demo-") and not token["revoked_at"]:
            store.revoke(token["token_id"])
    issued = [(p["id"], store.issue("partner", p["id"], f"demo-{p['id']}"))
              for p in s.queries.partners()]
    issued.append(("auditor", store.issue("auditor", None, "demo-auditor")))
    issued.append(("admin", store.issue("admin", None, "demo-admin")))
    return issued


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="threads per worker")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, threads: int,
          db_url: str | None = None) -> None:
    """Serve the HTTP API under gunicorn (SQLite or PostgreSQL)."""
    from api.server import serve as run

    with services(ctx) as s:  # create the store and catch up before the workers start
        s.follower.catch_up()
        database = db_url or s.database.url
    selection: Selection = ctx.obj["plugins"]
    if selection.only is not None:  # the workers read the plugin choice from the environment
        os.environ["COOPREG_PLUGINS"] = ",".join(selection.only)
    if selection.disabled:
        os.environ["COOPREG_DISABLE_PLUGINS"] = ",".join(selection.disabled)
    run(database, host, port, workers, threads)


@main.group()
def token() -> None:
    """Bearer tokens for the HTTP API (stored only as hashes)."""


@token.command("issue")
@click.option("--role", type=click.Choice(["partner", "auditor", "admin"]), required=True)
@click.option("--partner", default=None, help="the partner a partner token acts for")
@click.option("--label", default="", help="a name for the token (recorded as author)")
@click.pass_context
def token_issue(ctx: click.Context, role: str, partner: str | None, label: str) -> None:
    """Issue a token and print it once."""
    from api.auth import TokenStore

    with services(ctx) as s:
        if partner is not None and partner not in {p["id"] for p in s.queries.partners()}:
            s.follower.catch_up()
            if partner not in {p["id"] for p in s.queries.partners()}:
                raise UserError(f"no partner {partner}")
        click.echo(TokenStore(s.queries.sql).issue(role, partner, label))


@token.command("revoke")
@click.argument("token_id")
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a token by its id (the part after `coopreg_`)."""
    from api.auth import TokenStore

    with services(ctx) as s:
        if not TokenStore(s.queries.sql).revoke(token_id):
            raise UserError(f"no live token {token_id}")
        click.echo(f"revoked {token_id}")


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """Every token, without secrets."""
    from api.auth import TokenStore

    with services(ctx) as s:
        for t in TokenStore(s.queries.sql).list():
            state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "live"
            click.echo(f"{t['token_id']}  {t['role']:<8} {t['partner'] or '-':<12} "
                       f"{t['label']:<20} {t['created_at']}  {state}")


@main.command()
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--as", "by", default="admin:cli", show_default=True,
              help="principal recorded as author, e.g. partner:osce-odihr")
@click.option("--idempotency-key", default=None, help="retrying with the same key records "
              "nothing new (single command only)")
@click.option("--chunk-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def post(ctx: click.Context, source: TextIO, by: str, idempotency_key: str | None,
         chunk_size: int) -> None:
    """Record an agreement, an action or any command from a JSON file or stdin.

    SOURCE holds one JSON object, a JSON array, or NDJSON (one command per line). Commands
    are recorded in atomic chunks; a failing chunk records nothing and names its line."""
    items = list(_parse_commands(_read_text(source)))
    with services(ctx) as s:
        if len(items) == 1:
            line, data = items[0]
            receipt = s.app.execute(_load(line, data, len(items)), by=by,
                                    idempotency_key=idempotency_key)
            _echo_receipt(receipt)
        else:
            if idempotency_key:
                raise UserError("--idempotency-key applies to a single command")
            for start in range(0, len(items), chunk_size):
                chunk = items[start:start + chunk_size]
                commands = [_load(line, data, len(items)) for line, data in chunk]
                try:
                    receipts = s.app.execute_batch(commands, by=by)
                except ValidationFailed as error:
                    index, error = _split_batch_error(error)
                    raise UserError(f"line {chunk[index][0]}: {describe(error)} (nothing of "
                                    f"lines {chunk[0][0]}-{chunk[-1][0]} was recorded; "
                                    f"{start} commands before were)") from None
                for receipt in receipts:
                    _echo_receipt(receipt)
        s.follower.catch_up()


def _echo_receipt(receipt: Any) -> None:
    click.echo(json.dumps(receipt.as_dict()))
    for warning in receipt.warnings:
        click.echo(f"coopreg: warning: {warning['field']}: {warning['message']} "
                   f"[{warning['rule']}]", err=True)


def _split_batch_error(error: ValidationFailed) -> tuple[int, ValidationFailed]:
    """A batch names fields "[3].kind"; a line number says which command, so keep "kind"."""
    index = int(error.problems[0].field[1:].partition("]")[0])
    return index, ValidationFailed([replace(p, field=p.field.partition("].")[2])
                                    for p in error.problems])


def _read_text(source: TextIO) -> str:
    try:
        return source.read()
    except UnicodeDecodeError as error:
        raise UserError(f"{source.name} is not UTF-8 text (byte {error.start}: "
                        f"{error.reason})") from None


def _parse_commands(text: str) -> Iterator[tuple[int, Any]]:
    stripped = text.strip()
    if not stripped:
        raise UserError("no command given (empty input)")
    try:
        whole = json.loads(stripped)
    except (ValueError, RecursionError):  # perhaps NDJSON: each line is read below
        whole = None
    if isinstance(whole, list):
        yield from ((i + 1, item) for i, item in enumerate(whole))
        return
    if whole is not None:
        yield 1, whole
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except ValueError as error:
                raise UserError(f"line {number}: not JSON ({error})") from None
            except RecursionError:
                raise UserError(f"line {number}: JSON nested too deeply") from None


def _load(line: int, data: Any, total: int) -> Any:
    try:
        return load_command(data)
    except ValidationFailed as error:
        where = f"line {line}: " if total > 1 else ""
        raise UserError(where + describe(error)) from None


@main.command("export")
@click.argument("target", type=click.Path(dir_okay=False, allow_dash=True), default="-")
@click.option("--all-checkpoints", is_flag=True,
              help="also every checkpoint the log signed, each after the event at its size "
                   "(lets `coopreg audit verify` bound where a rewritten history went wrong)")
@click.pass_context
def export_cmd(ctx: click.Context, target: str, all_checkpoints: bool) -> None:
    """Write the event history as NDJSON (to TARGET or stdout): every event the
    transparency log holds, with the leaf it recorded, then the signed checkpoint of the
    exported size, which `coopreg audit verify` checks."""
    from registry.audit_cli import log_export

    with services(ctx) as s:
        _refuse_own_files(s, target)
        log = log_export(s, all_checkpoints)
        with _output(target) as out, progress_bar("exporting", log.size) as advance:
            count = export_events(s.app.recorder, out, advance, log=log)
        signed = "" if s.notary.key else (" without a checkpoint: the log has no signing key "
                                          "(`coopreg init` creates one)")
        err.print(f"exported {count} events{signed}")


def _refuse_own_files(s: Services, target: str) -> None:
    """Opening the target truncates it: never the store's own file, key or witness."""
    if target == "-":
        return
    name = s.database.env.get("SQLITE_DBNAME", "")
    own = [Path(name + suffix) for suffix in ("", "-wal", "-shm", "-journal")
           if name and "mode=memory" not in name]
    if s.notary.witness is not None:
        own += [s.notary.witness, s.notary.witness.with_suffix("")]
    if any(Path(target).resolve() == path.resolve() for path in own):
        raise UserError(f"{target} is the database or its signing key: export elsewhere")


@contextmanager
def _output(target: str) -> Iterator[TextIO]:
    if target == "-":
        yield sys.stdout
        return
    try:
        out = Path(target).open("w", encoding="utf-8")  # noqa: SIM115 (closed just below)
    except OSError as error:
        raise UserError(f"cannot write the export: {error}") from None
    with out:
        yield out


@main.command("import")
@click.argument("source", type=click.File("r", encoding="utf-8"))
@click.pass_context
def import_cmd(ctx: click.Context, source: TextIO) -> None:
    """Import an NDJSON export into an empty store, then build the read models."""
    with services(ctx) as s:
        with progress_bar("importing", None) as advance:
            try:
                report = import_events(s.app.recorder, s.app.mapper, source,
                                       progress=advance)
            except UnicodeDecodeError as error:
                recorded = s.app.recorder.max_notification_id() or 0
                raise UserError(f"{source.name} is not UTF-8 text (byte {error.start}: "
                                f"{error.reason}); {recorded} events before it were "
                                "recorded") from None
        s.follower.catch_up()
        note = " (positions renumbered: the source had gaps)" if report.renumbered else ""
        click.echo(f"imported {report.events} events{note}")


@main.command()
@click.option("--until", type=MOMENT, default=None,
              help="rebuild as of this position or recorded time (needs --into)")
@click.option("--into", "into", default=None, metavar="URL",
              help="an empty database to rebuild into (events up to --until are copied)")
@click.pass_context
def replay(ctx: click.Context, until: Moment | None, into: str | None) -> None:
    """Rebuild every read model from position 0 and compare it with the live one.

    With --until and --into: copy the events up to that point (same positions) into an
    empty database, build every read model there, and check them against this registry's
    read models as they stood at that point."""
    if into is None and until is not None:
        raise UserError("--until needs --into URL: an empty database to rebuild into")
    with services(ctx) as s:
        s.follower.catch_up()
        if into is not None:
            _replay_into(s, into, until)
            return
        before = s.follower.digests()
        with progress_bar("replaying", s.app.event_table.count()) as advance:
            s.follower.rebuild(progress=advance)
        after = s.follower.digests()
        for name in before:
            same = "equal" if before[name] == after[name] else "DIFFERENT"
            click.echo(f"{name:<12} {after[name][:16]}  {same} to the live read model")
        if before != after:
            raise UserError("a rebuilt read model differs from the live one")


def _replay_into(s: Services, into: str, until: Moment | None) -> None:
    from registry.timetravel import open_target, replay_into, resolve

    position = resolve(s, until, "until") if until is not None else s.queries.position()
    try:
        target = open_target(s, into)
    except (PersistenceError, OSError) as error:
        raise UserError(f"cannot open the database {into}: {error}") from None
    try:
        with progress_bar("copying events", s.app.event_table.count(until=position)) as step:
            report = replay_into(s, target, position, progress=step)
    finally:
        target.close()
    when = f", recorded by {report.until_time}" if report.until_time else ""
    click.echo(f"replayed {report.events} events up to position {report.until}{when} "
               f"into {parse_database(into).redacted()}")
    for name, digest in report.digests.items():
        click.echo(f"{name:<12} {digest[:16]}")
    for check, equal in report.equal.items():
        same = "equal" if equal else "DIFFERENT"
        click.echo(f"{check:<31} {same} to this registry as of position {report.until}")
    if not report.faithful:
        raise UserError("the replayed read models differ from this registry's as of "
                        f"position {report.until}")


@main.command()
@click.option("--as-of", "as_of", type=MOMENT, default=None, help=AS_OF_HELP)
@click.pass_context
def status(ctx: click.Context, as_of: Moment | None) -> None:
    """Event count, last position and each read model's lag (and, --as-of a past point,
    what the registry held then)."""
    with services(ctx) as s:
        head = s.app.recorder.max_notification_id() or 0
        click.echo(f"database        {s.database.redacted()}")
        if as_of is not None:
            s.follower.catch_up()
            position = s.queries.answered_as_of(s.queries.resolve(as_of))
            counts = s.queries.counts(as_of=position)
            recorded = s.queries.clock.time_at(position)
            click.echo(f"as of           position {position} " + (
                f"(recorded by {recorded})" if recorded else "(the empty registry)"))
            click.echo(f"events          {s.app.event_table.count(until=position)}")
            click.echo(f"last position   {position}")
            for name, count in counts.items():
                click.echo(f"{name:<15} {count}")
        else:
            click.echo(f"events          {s.app.event_table.count()}")
            click.echo(f"last position   {head}")
        for name, lag in s.follower.lag().items():
            click.echo(f"lag {name:<11} {lag}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List the active plugins: version, hooks, partners and rules."""
    from registry.plugins import PluginHost

    try:
        host = PluginHost.from_entry_points(ctx.obj["plugins"])
    except RegistryError as error:
        raise UserError(describe(error)) from None
    listing = host.describe()
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    if not listing:
        click.echo("no plugins active")
    for plugin in listing:
        click.echo(f"{plugin['name']} {plugin['version']}  partners: "
                   f"{', '.join(plugin['partners']) or '-'}")
        click.echo(f"  hooks: {', '.join(plugin['hooks'])}")
        for rule in plugin["rules"]:
            click.echo(f"  {rule['severity']:<7} {rule['id']}: {rule['summary']}")


@main.command()
@click.argument("reference")
@click.option("--on", "on", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="judge as of this date (valid time; default: today)")
@click.option("--as-of", "as_of", type=MOMENT, default=None, help=AS_OF_HELP)
@click.pass_context
def compliance(ctx: click.Context, reference: str, on: Any, as_of: Moment | None) -> None:
    """Each obligation of an agreement: met, due, overdue or not applicable on a date,
    as the registry showed it then (--as-of) or now."""
    from registry.rules import today_utc

    with services(ctx) as s:
        s.follower.catch_up()
        day = on.date() if on else today_utc()
        report = s.queries.compliance(reference, on=day, as_of=s.queries.resolve(as_of))
        if report is None:
            raise UserError(f"no agreement {reference}" + _as_of_note(s, as_of))
        summary = ", ".join(f"{n} {status}" for status, n in report["summary"].items())
        click.echo(f"{reference} on {day}{_as_of_note(s, as_of)}: {summary}")
        for o in report["obligations"]:
            evidence = f"  evidence: {', '.join(o['evidence'])}" if o["evidence"] else ""
            click.echo(f"  {o['status']:<15} {o['commitment']:<40} {o['start']}..{o['due_on']}"
                       f"{evidence}")


def _as_of_note(s: Services, as_of: Moment | None) -> str:
    if as_of is None:
        return ""
    return f" as of position {s.queries.answered_as_of(s.queries.resolve(as_of))}"


@main.command()
@click.option("--partner", default=None, help="a partner took part")
@click.option("--counterpart", default=None, help="a partner took part, not as reporter")
@click.option("--country", default=None, help="ISO 3166 code, e.g. UA")
@click.option("--kind", default=None)
@click.option("--theme", default=None)
@click.option("--mechanism", default=None)
@click.option("--agreement", default=None, help="under this agreement (reference)")
@click.option("--occurred-from", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="occurred on or after this date (valid time)")
@click.option("--occurred-to", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="occurred on or before this date (valid time)")
@click.option("--include-retracted/--live-only", default=True, show_default=True)
@click.option("--as-of", "as_of", type=MOMENT, default=None, help=AS_OF_HELP)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--json", "as_json", is_flag=True, help="print a JSON array")
@click.pass_context
def actions(ctx: click.Context, as_of: Moment | None, limit: int, as_json: bool,
            occurred_from: Any, occurred_to: Any, **where: Any) -> None:
    """Actions, filtered as the API filters them, in the order they occurred."""
    days = {"occurred_from": occurred_from.date() if occurred_from else None,
            "occurred_to": occurred_to.date() if occurred_to else None}
    with services(ctx) as s:
        s.follower.catch_up()
        position = s.queries.resolve(as_of)
        items, cursor = [], None
        while len(items) < limit:
            page = s.queries.actions(ActionFilter(**where, **days), as_of=position,
                                     limit=min(500, limit - len(items)), cursor=cursor)
            items += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        if as_json:
            click.echo(json.dumps(items, indent=2))
            return
        for a in items:
            click.echo(f"{a['occurred_on']['start']}  {a['id']}  {a['status']:<9} "
                       f"{a['kind']:<24} {a['reporting_partner']:<12} "
                       f"{','.join(a['countries']) or '-':<8} {a['summary'][:60]}")
        more = " (more: raise --limit)" if cursor else ""
        click.echo(f"{len(items)} actions as of position "
                   f"{s.queries.answered_as_of(position)}{more}")


@main.command()
@click.option("--partner", default=None, help="agreements this partner is a party to")
@click.option("--as-of", "as_of", type=MOMENT, default=None, help=AS_OF_HELP)
@click.option("--json", "as_json", is_flag=True, help="print a JSON array")
@click.pass_context
def agreements(ctx: click.Context, partner: str | None, as_of: Moment | None,
               as_json: bool) -> None:
    """Agreements with their parties, status and text version."""
    with services(ctx) as s:
        s.follower.catch_up()
        position = s.queries.resolve(as_of)
        found = s.queries.agreements(partner=partner, as_of=position)
        if as_json:
            click.echo(json.dumps(found, indent=2))
            return
        for a in found:
            click.echo(f"{a['signed_on']}  {a['id']:<28} {a['status']:<10} "
                       f"text v{a['text_version']}  {', '.join(a['parties'])}  {a['title']}")
        click.echo(f"{len(found)} agreements as of position "
                   f"{s.queries.answered_as_of(position)}")


@main.group()
def audit() -> None:
    """Auditors' checks of the recorded history."""


@audit.command("rules")
@click.pass_context
def audit_rules_cmd(ctx: click.Context) -> None:
    """Re-judge every recorded action under today's plugins; list where findings differ."""
    from registry.audit import audit_rules

    with services(ctx) as s:
        s.follower.catch_up()
        drifts = 0
        for drift in audit_rules(s):
            drifts += 1
            then = ", ".join(f"{r['plugin']} {r['version']}" for r in drift.rules_then) or "none"
            click.echo(f"position {drift.position} action {drift.action_id} v{drift.version} "
                       f"(rules then: {then})")
            for rule, severity, field in drift.now_found:
                click.echo(f"  + {severity} {rule} on {field} (found today, not then)")
            for rule, severity, field in drift.no_longer:
                click.echo(f"  - {severity} {rule} on {field} (found then, not today)")
        click.echo(f"{drifts} recorded events would be judged differently today")


@audit.command("diff")
@click.argument("start", metavar="A", type=MOMENT)
@click.argument("end", metavar="B", type=MOMENT)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def audit_diff_cmd(ctx: click.Context, start: Moment, end: Moment, as_json: bool) -> None:
    """What changed between A and B (positions or recorded times, A <= B): the events
    recorded in (A, B], and per read model the subjects added, changed and retracted."""
    from registry.timetravel import diff, resolve

    with services(ctx) as s:
        s.follower.catch_up()
        result = diff(s, resolve(s, start, "A"), resolve(s, end, "B"))
        if as_json:
            click.echo(json.dumps(result.as_dict(), indent=2, default=str))
            return
        click.echo(f"from position {result.start} ({result.start_time or 'empty registry'}) "
                   f"to position {result.end} ({result.end_time or 'empty registry'})")
        click.echo(f"{len(result.events)} events recorded in between")
        for e in result.events:
            click.echo(f"  {e.position:>8}  {e.recorded_at or '-':<32} {e.type:<26} "
                       f"{e.aggregate} v{e.version}")
        for name, changes in result.read_models.items():
            counts = ", ".join(f"{n} {kind}" for kind, n in result.counts(name).items())
            click.echo(f"{name}: {counts}")
            for change in changes:
                click.echo(f"  {_change_line(change)}")


def _change_line(change: Any) -> str:
    mark = {"added": "+", "changed": "~", "retracted": "-"}[change.change]
    subject = "/".join(str(v) for v in change.subject.values())
    then, now = change.before, change.after
    detail = (f"{_version(then)} -> {_version(now)}" if then and now
              else _version(now or then))
    return f"{mark} {change.change:<9} {change.table} {subject}  {detail}"


def _version(shown: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k} {v}" for k, v in shown.items() if v is not None) + ")"


from registry import audit_cli  # noqa: E402,F401  (registers the audit commands)
