"""The raw event log for auditors, and NDJSON imports for partners migrating history."""

from __future__ import annotations

import json
from typing import Any

from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from api.context import allow, ctx, require
from api.schemas import QUERY, WRITE, EventArgs, EventPageSchema, ImportReportSchema
from registry.commands import ReportAction
from registry.domain import Problem, ValidationFailed
from registry.io import event_record
from registry.schemas import load_command

blp = Blueprint("audit", __name__, url_prefix="/v1", description="The event log and imports")
CHUNK = 500


@blp.route("/events")
class Events(MethodView):
    @allow("auditor")
    @blp.arguments(EventArgs(), **QUERY)
    @blp.response(200, EventPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Every stored event in global order, after a position (auditors)."""
        recorder = ctx().services.app.recorder
        rows = recorder.select_notifications(start=args["after"] + 1, limit=args["limit"] + 1)
        items = [event_record(n) for n in rows[:args["limit"]]]
        leaves = ctx().services.ledger.leaves([i["position"] for i in items])
        for item in items:
            item["leaf_index"], item["leaf_hash"] = leaves.get(item["position"], (None, None))
        next_url = None
        headers = {}
        if len(rows) > args["limit"]:
            next_url = url_for("audit.Events", after=items[-1]["position"],
                               limit=args["limit"])
            headers["Link"] = f'<{next_url}>; rel="next"'
        return {"items": items, "next": next_url}, 200, headers


@blp.route("/imports")
class Imports(MethodView):
    @allow("partner", "admin")
    @blp.response(201, ImportReportSchema)
    @blp.doc(requestBody={"required": True, "content": {"application/x-ndjson": {
        "schema": {"type": "string", "description": "one command per line (JSON)"}}}})
    @blp.doc(**WRITE)
    def post(self) -> Any:
        """Import commands as NDJSON, recorded in atomic chunks of 500 lines. A partner
        imports its own actions; an admin any command. A bad line fails its chunk (and
        names the line); earlier chunks stay recorded."""
        who = require("partner", "admin")
        lines = _lines(request.get_data())
        app, receipts = ctx().services.app, []
        key = request.headers.get("Idempotency-Key")
        for start in range(0, len(lines), CHUNK):
            chunk = lines[start:start + CHUNK]
            commands = [_command(number, text, who) for number, text in chunk]
            try:
                receipts += app.execute_batch(
                    commands, by=who.name,
                    idempotency_key=f"{key}#{start // CHUNK}" if key else None)
            except ValidationFailed as error:
                index = int(error.problems[0].field[1:].partition("]")[0]) if len(
                    commands) > 1 else 0
                raise _line_error(chunk[index][0], error, len(receipts)) from None
            ctx().worker.nudge()
        return {"recorded": len(receipts), "receipts": receipts}


def _lines(body: bytes) -> list[tuple[int, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValidationFailed([Problem("body", "import.utf-8",
                                        f"the body is not UTF-8 ({error.reason})")]) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise ValidationFailed([Problem("body", "import.empty", "no command in the body")])
    return lines


def _command(number: int, text: str, who: Any) -> Any:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValidationFailed([Problem(f"line {number}", "import.json",
                                        f"line {number} is not JSON ({error})")]) from None
    if (who.role == "partner" and isinstance(data, dict)
            and data.get("command", "report_action") == "report_action"):
        data.setdefault("reporting_partner", who.partner)
    try:
        command = load_command(data)
    except ValidationFailed as error:
        raise _line_error(number, error, 0) from None
    if who.role == "partner" and (not isinstance(command, ReportAction)
                                  or command.facts.reporting_partner != who.partner):
        from api.errors import Forbidden

        raise Forbidden(f"line {number}: a partner imports only actions it reported itself")
    return command


def _line_error(number: int, error: ValidationFailed, recorded: int) -> ValidationFailed:
    problems = [Problem(f"line {number}: {p.field.partition('].')[2] or p.field}", p.rule,
                        p.message) for p in error.problems]
    problems.append(Problem("body", "import.chunk-refused",
                            f"nothing of line {number}'s chunk was recorded; {recorded} "
                            "commands before it were"))
    return ValidationFailed(problems)

