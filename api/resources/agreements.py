"""Agreements, their revisions, and compliance with their commitments."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.context import (
    allow,
    ctx,
    execute,
    execute_update,
    expected_version,
    read_args,
    require,
    state_as_of,
)
from api.errors import Forbidden
from api.resources.common import versioned
from api.schemas import (
    AS_OF_POSITION,
    QUERY,
    UPDATE,
    WRITE,
    AgreementArgs,
    AgreementDetailSchema,
    AgreementSchema,
    ComplianceArgs,
    ComplianceSchema,
    ReadArgs,
    ReceiptSchema,
)
from registry.domain import NotFound
from registry.rules import today_utc
from registry.schemas import RegisterAgreementSchema, ReviseAgreementSchema, body_schema

blp = Blueprint("agreements", __name__, url_prefix="/v1/agreements",
                description="Agreements and compliance with their commitments")
blp.after_request(state_as_of)
AgreementBody = body_schema(RegisterAgreementSchema, name="AgreementBody")
RevisionBody = body_schema(ReviseAgreementSchema, exclude=("agreement", "expected_version"),
                           name="RevisionBody")


def _may_act_for(parties: list[str], what: str) -> None:
    """Admins, or a partner that is one of the parties."""
    who = require("admin", "partner")
    if who.role == "partner" and who.partner not in parties:
        raise Forbidden(f"{who.partner} is not a party, so may not {what}")


@blp.route("")
class Agreements(MethodView):
    @blp.arguments(AgreementArgs(), **QUERY)
    @blp.response(200, AgreementSchema(many=True), headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any]) -> Any:
        """Every agreement (or a partner's), with its parties and current commitments."""
        return ctx().services.queries.agreements(partner=args.get("partner"),
                                                 as_of=read_args(args))

    @allow("admin", "partner")
    @blp.arguments(AgreementBody())
    @blp.response(201, ReceiptSchema)
    @blp.doc(**WRITE)
    def post(self, body: dict[str, Any]) -> Any:
        """Register an agreement (admins, or a partner that is a party)."""
        _may_act_for(body["parties"], "register this agreement")
        return execute(RegisterAgreementSchema.to_command(body))


@blp.route("/<reference>")
class AgreementById(MethodView):
    @blp.arguments(ReadArgs(), **QUERY)
    @blp.response(200, AgreementDetailSchema, headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any], reference: str) -> Any:
        """One agreement, its current text version and its full history."""
        found = ctx().services.queries.agreement(reference, as_of=read_args(args))
        return versioned(found, f"agreement {reference}")


@blp.route("/<reference>/revisions")
class Revisions(MethodView):
    @allow("admin", "partner")
    @blp.arguments(RevisionBody())
    @blp.response(201, ReceiptSchema)
    @blp.doc(**UPDATE)
    def post(self, body: dict[str, Any], reference: str) -> Any:
        """Revise an agreement's text (If-Match: the version it revises)."""
        current = ctx().services.app.agreement(reference)
        _may_act_for(current.parties, "revise this agreement")
        version = expected_version()
        command = ReviseAgreementSchema.to_command(
            {**body, "agreement": reference, "expected_version": version})
        return execute_update(command)


@blp.route("/<reference>/compliance")
class Compliance(MethodView):
    @blp.arguments(ComplianceArgs(), **QUERY)
    @blp.response(200, ComplianceSchema, headers=AS_OF_POSITION)
    def get(self, args: dict[str, Any], reference: str) -> Any:
        """Each obligation: met (with evidence), due, overdue or not applicable on a date
        (`on`, valid time), as the registry showed it at `as_of` (transaction time)."""
        report = ctx().services.queries.compliance(reference, on=args.get("on") or today_utc(),
                                                   as_of=read_args(args))
        if report is None:
            raise NotFound(f"no agreement {reference}")
        return report
