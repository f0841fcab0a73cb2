"""marshmallow schemas for every command payload: the single source of input validation,
shared by the CLI, NDJSON import and the HTTP API. Shape and format are checked here;
domain invariants (known partners, dates, vocabularies that plugins extend) in the domain."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
)

from registry import commands as c
from registry.domain import AMENDABLE, REVISABLE, ActionFacts, Commitment, Period, Problem
from registry.domain.errors import ValidationFailed
from registry.domain.values import DueRule
from registry.domain.vocabulary import AGREEMENT_KINDS, CADENCES, PARTNER_KINDS

# \Z, not $: `$` also matches before a final newline, which let "ohchr\n" pass as a slug
SLUG = validate.Regexp(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*\Z",
                       error="must be a lower-case slug such as osce-odihr")
TEXT = validate.Length(min=1, max=10_000)
SHORT = validate.Length(min=1, max=300)
PROVENANCE = validate.OneOf(["reported", "documented", "illustrative"])
# Control characters other than tab and line breaks, and unpaired surrogates: JSON can
# carry them ("\u0000", "\ud800") but they are not text. A lone surrogate cannot be
# encoded to UTF-8 (the save failed with a 500), PostgreSQL refuses NUL in text, and
# escape sequences in a public record would reach terminals through the CLI.
NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def words(**kwargs: Any) -> fields.List:
    return fields.List(fields.String(validate=SHORT), validate=validate.Length(max=200),
                       **kwargs)


class Strict(Schema):
    class Meta:
        unknown = RAISE


class PeriodField(fields.Field):
    """A date (`2014-06-12`) or a range (`{"start": "2014-06-10", "end": "2014-06-12"}`)."""

    default_error_messages = {
        "invalid": "must be a date YYYY-MM-DD or an object with start and end dates"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Period:
        try:
            if isinstance(value, str):
                return Period.of(date.fromisoformat(value))
            if isinstance(value, dict) and set(value) <= {"start", "end"} and "start" in value:
                end = value.get("end")
                return Period.of(date.fromisoformat(value["start"]),
                                 date.fromisoformat(end) if end else None)
        except (TypeError, ValueError):
            pass
        raise self.make_error("invalid")

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return value.as_dict() if isinstance(value, Period) else value


class SourceSchema(Strict):
    document = fields.String(required=True, validate=SHORT)
    quote = fields.String(required=True, validate=TEXT)


class DueRuleSchema(Strict):
    basis = fields.String(load_default="period", validate=validate.OneOf(DueRule.BASES))
    months_after = fields.Integer(load_default=0, validate=validate.Range(0, 1200))


class CommitmentSchema(Strict):
    id = fields.String(required=True, validate=SLUG)
    text = fields.String(required=True, validate=TEXT)
    responsible = words(required=True)
    counterparts = words(load_default=list)
    cadence = fields.String(required=True, validate=validate.OneOf(sorted(CADENCES)))
    due = fields.Nested(DueRuleSchema, load_default=dict)
    fulfilled_by = words(load_default=list)
    source = fields.Nested(SourceSchema, load_default=None, allow_none=True)
    exceptions = words(load_default=list)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Commitment:
        return Commitment.from_dict({**data, "due": data.get("due") or {}})


class SignatorySchema(Strict):
    name = fields.String(required=True, validate=SHORT)
    title = fields.String(required=True, validate=SHORT)
    partner = fields.String(required=True, validate=SLUG)


class ReviewRuleSchema(Strict):
    months_after_signature = fields.Integer(required=True, validate=validate.Range(1, 1200))
    source = fields.Nested(SourceSchema, load_default=None, allow_none=True)


class CommandSchema(Strict):
    command_class: type[c.Command]

    @pre_load
    def drop_command_name(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k != "command"}
        return data

    @pre_load
    def refuse_what_is_not_text(self, data: Any, **_: Any) -> Any:
        """Every string of the command, nested ones and keys included, is checked once
        here, at the top, so no field can forget it."""
        problems = {p.field: [p.message] for p in not_text(data)}
        if problems:
            raise ValidationError(problems)
        return data

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Any:
        return self.to_command(data)

    @classmethod
    def to_command(cls, data: dict[str, Any]) -> c.Command:
        """The command from validated fields (the HTTP API adds path and token values)."""
        return cls.command_class(**data)


class RegisterPartnerSchema(CommandSchema):
    command_class = c.RegisterPartner
    partner_id = fields.String(required=True, validate=SLUG)
    display_name = fields.String(required=True, validate=SHORT, data_key="name")
    kind = fields.String(required=True, validate=validate.OneOf(sorted(PARTNER_KINDS)))
    seat = fields.String(required=True, validate=SHORT)


class RenamePartnerSchema(CommandSchema):
    command_class = c.RenamePartner
    partner_id = fields.String(required=True, validate=SLUG)
    display_name = fields.String(required=True, validate=SHORT, data_key="name")
    reason = fields.String(required=True, validate=TEXT)
    expected_version = fields.Integer(load_default=None, validate=validate.Range(min=1))


class RegisterAgreementSchema(CommandSchema):
    command_class = c.RegisterAgreement
    reference = fields.String(required=True, validate=SLUG)
    kind = fields.String(required=True, validate=validate.OneOf(sorted(AGREEMENT_KINDS)))
    title = fields.String(required=True, validate=SHORT)
    parties = fields.List(fields.String(validate=SLUG), required=True,
                          validate=validate.Length(min=2, max=50,
                                                   error="an agreement has at least two parties"))
    signed_on = fields.Date(required=True)
    signed_at = fields.String(required=True, validate=SHORT)
    signatories = fields.List(fields.Nested(SignatorySchema), load_default=list)
    commitments = fields.List(fields.Nested(CommitmentSchema), load_default=list)
    review_rule = fields.Nested(ReviewRuleSchema, load_default=None, allow_none=True)
    summary = fields.String(load_default="", validate=validate.Length(max=10_000))
    provenance = fields.String(load_default="reported", validate=PROVENANCE)

    @classmethod
    def to_command(cls, data: dict[str, Any]) -> c.Command:
        data = {**data, "parties": tuple(data["parties"]),
                "signatories": tuple(data["signatories"]),
                "commitments": tuple(data["commitments"])}
        return c.RegisterAgreement(**data)


class AddCommitmentSchema(CommandSchema):
    command_class = c.AddCommitment
    agreement = fields.String(required=True, validate=SLUG)
    commitment = fields.Nested(CommitmentSchema, required=True)
    expected_version = fields.Integer(load_default=None, validate=validate.Range(min=1))


class AgreementChangesSchema(Strict):
    title = fields.String(validate=SHORT)
    commitments = fields.List(fields.Nested(CommitmentSchema))
    review_rule = fields.Nested(ReviewRuleSchema, allow_none=True)
    summary = fields.String(validate=validate.Length(max=10_000))


class ReviseAgreementSchema(CommandSchema):
    command_class = c.ReviseAgreement
    agreement = fields.String(required=True, validate=SLUG)
    changes = fields.Nested(AgreementChangesSchema, required=True,
                            validate=validate.Length(min=1, error="name at least one of "
                                                     + ", ".join(REVISABLE)))
    reason = fields.String(required=True, validate=TEXT)
    revised_on = fields.Date(load_default=None)
    expected_version = fields.Integer(load_default=None, validate=validate.Range(min=1))


class TerminateAgreementSchema(CommandSchema):
    command_class = c.TerminateAgreement
    agreement = fields.String(required=True, validate=SLUG)
    terminated_on = fields.Date(required=True)
    reason = fields.String(required=True, validate=TEXT)
    expected_version = fields.Integer(load_default=None, validate=validate.Range(min=1))


class ActionFieldsSchema(Strict):
    """The facts of an action; every field optional here so amendments can reuse it."""

    partners = fields.List(fields.String(validate=SLUG), validate=validate.Length(min=1, max=50))
    kind = fields.String(validate=SLUG)
    occurred_on = PeriodField()
    countries = fields.List(fields.String(validate=validate.Length(equal=2)),
                            validate=validate.Length(max=250))
    mechanisms = words()
    themes = words()
    agreement = fields.String(allow_none=True, validate=SLUG)
    commitment = fields.String(allow_none=True, validate=SLUG)
    venue = fields.String(validate=validate.Length(max=300))
    summary = fields.String(validate=validate.Length(max=10_000))
    references = words()


class ReportActionSchema(ActionFieldsSchema, CommandSchema):
    command_class = c.ReportAction
    action_id = fields.UUID(load_default=None)
    reporting_partner = fields.String(required=True, validate=SLUG)
    partners = fields.List(fields.String(validate=SLUG), required=True,
                           validate=validate.Length(min=1, max=50))
    kind = fields.String(required=True, validate=SLUG)
    occurred_on = PeriodField(required=True)
    summary = fields.String(required=True, validate=TEXT)
    provenance = fields.String(load_default="reported", validate=PROVENANCE)

    @classmethod
    def to_command(cls, data: dict[str, Any]) -> c.Command:
        data = dict(data)
        action_id = data.pop("action_id", None)
        facts = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return c.ReportAction(facts=ActionFacts(**facts), action_id=action_id)


class AmendActionSchema(CommandSchema):
    command_class = c.AmendAction
    action_id = fields.UUID(required=True)
    changes = fields.Nested(ActionFieldsSchema, required=True,
                            validate=validate.Length(min=1, error="name at least one of "
                                                     + ", ".join(AMENDABLE)))
    reason = fields.String(required=True, validate=TEXT)
    expected_version = fields.Integer(load_default=None, validate=validate.Range(min=1))


class RetractActionSchema(CommandSchema):
    command_class = c.RetractAction
    action_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=TEXT)
    expected_version = fields.Integer(load_default=None, validate=validate.Range(min=1))


class AcknowledgeActionSchema(CommandSchema):
    command_class = c.AcknowledgeAction
    action_id = fields.UUID(required=True)
    partner = fields.String(required=True, validate=SLUG)
    note = fields.String(load_default="", validate=validate.Length(max=10_000))


class DisputeActionSchema(CommandSchema):
    command_class = c.DisputeAction
    action_id = fields.UUID(required=True)
    partner = fields.String(required=True, validate=SLUG)
    reason = fields.String(required=True, validate=TEXT)


SCHEMAS: dict[str, type[CommandSchema]] = {
    s.command_class.name: s for s in (
        RegisterPartnerSchema, RenamePartnerSchema, RegisterAgreementSchema, AddCommitmentSchema,
        ReviseAgreementSchema, TerminateAgreementSchema, ReportActionSchema, AmendActionSchema,
        RetractActionSchema, AcknowledgeActionSchema, DisputeActionSchema)
}


def body_schema(schema: type[CommandSchema], *, exclude: tuple[str, ...] = (),
                optional: tuple[str, ...] = (), name: str = "") -> type[Schema]:
    """An HTTP request body for a command: the same fields and rules, less those the path
    or the token supplies (`exclude`) or may supply (`optional`); it loads to a dict that
    `schema.to_command` turns into the command."""
    overrides: dict[str, Any] = {"make": post_load(lambda self, data, **_: data)}
    for field_name in optional:
        clone = copy.copy(schema._declared_fields[field_name])  # same type and validators
        clone.required, clone.load_default, clone.allow_none = False, None, True
        overrides[field_name] = clone
    overrides["Meta"] = type("Meta", (), {"exclude": exclude, "unknown": RAISE})
    return type(name or f"{schema.__name__.removesuffix('Schema')}Body", (schema,), overrides)


def problems_from(error: ValidationError, prefix: str = "") -> list[Problem]:
    """Flatten marshmallow's nested messages into field paths such as commitments[0].id."""
    return list(_flatten(error.normalized_messages(), prefix))


def _flatten(messages: Any, path: str) -> Any:
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":  # marshmallow's name for the whole object
                sub = path or "body"
            else:
                sub = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path \
                    else key
            yield from _flatten(value, sub)
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        for message in messages:
            yield Problem(path or "body", _rule_of(message), message)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            yield from _flatten(value, f"{path}[{index}]")
    else:
        yield Problem(path or "body", "schema", str(messages))


def not_text(value: Any, path: str = "") -> Iterator[Problem]:
    """A problem for each string in `value` (dicts and lists walked, keys included) that
    holds a control character or an unpaired surrogate, named by its field path."""
    if isinstance(value, str):
        found = NOT_TEXT.search(value)
        if found:
            char = ord(found.group())
            what = ("an unpaired surrogate" if 0xD800 <= char <= 0xDFFF
                    else "a control character")
            yield Problem(path or "body", "schema.characters",
                          f"contains {what} (U+{char:04X}); only text is accepted, with tab "
                          "and line breaks")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = key.encode("unicode_escape").decode() if NOT_TEXT.search(key) else key
            sub = f"{path}.{name}" if path else name
            yield from not_text(key, sub)
            yield from not_text(item, sub)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from not_text(item, f"{path}[{index}]")


def _rule_of(message: str) -> str:
    for needle, rule in (("control character", "schema.characters"),
                         ("unpaired surrogate", "schema.characters"),
                         ("Missing data", "schema.required"), ("Unknown field", "schema.unknown"),
                         ("Not a valid", "schema.type"), ("Must be one of", "schema.one-of"),
                         ("Field may not be null", "schema.not-null"), ("slug", "schema.slug"),
                         ("Length", "schema.length"), ("at least", "schema.length"),
                         ("Must be greater", "schema.range"), ("Longer than", "schema.length"),
                         ("Shorter than", "schema.length")):
        if needle in message:
            return rule
    return "schema.invalid"


def infer_command_name(data: dict[str, Any]) -> str | None:
    if "command" in data:
        return data["command"] if isinstance(data["command"], str) else None
    if "reporting_partner" in data:
        return "report_action"
    if "parties" in data:
        return "register_agreement"
    if "partner_id" in data and "seat" in data:
        return "register_partner"
    return None


@functools.cache
def _loaders() -> dict[str, CommandSchema]:
    """One instance per command: building a schema (copying its fields) cost more than
    loading a report with it. An instance may load many times, from any thread (marshmallow
    keeps no per-load state on it since 3.0; flask-smorest shares its instances so too)."""
    return {name: schema() for name, schema in SCHEMAS.items()}


def load_command(data: Any) -> c.Command:
    """Parse one JSON command; raise ValidationFailed naming every bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed([Problem("body", "schema.type", "a command is a JSON object")])
    name = infer_command_name(data)
    if name not in SCHEMAS:
        raise ValidationFailed([Problem("command", "schema.one-of",
                                        f"unknown command {data.get('command')!r}; one of "
                                        + ", ".join(SCHEMAS))])
    try:
        return _loaders()[name].load(data)
    except ValidationError as error:
        raise ValidationFailed(problems_from(error)) from None

