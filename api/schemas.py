"""Response and query-argument schemas. With the command schemas of `registry.schemas`
they are the whole HTTP contract, and flask-smorest turns them into the OpenAPI document."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from registry.projections import Moment, parse_moment
from registry.projections.clock import MAX_POSITION, MOMENT_HELP
from registry.rules import STATUSES

NULLABLE_TEXT = {"allow_none": True}


class Out(Schema):
    class Meta:
        ordered = True


class FindingSchema(Out):
    rule = fields.String(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(["error", "warning"]))
    message = fields.String(required=True)
    field = fields.String(required=True)
    source = fields.String(required=True)
    plugin = fields.String(required=True)
    plugin_version = fields.String(required=True)
    related = fields.List(fields.String(), required=True)


class ReceiptSchema(Out):
    aggregate = fields.String(required=True, metadata={"description": "partner, agreement, "
                                                                      "or action"})
    id = fields.String(required=True, attribute="aggregate_id")
    version = fields.Integer(required=True, metadata={"description": "the aggregate's new "
                                                                     "version (use in If-Match)"})
    position = fields.Integer(required=True, metadata={"description": "global position of "
                                                                      "the new event"})
    warnings = fields.List(fields.Nested(FindingSchema), required=True)


class PeriodSchema(Out):
    start = fields.String(required=True)
    end = fields.String(required=True)


class VersionSchema(Out):
    version = fields.Integer(required=True)
    event = fields.String(required=True)
    position = fields.Integer(required=True)
    recorded_at = fields.String(required=True)
    recorded_by = fields.String(required=True)
    reason = fields.String(**NULLABLE_TEXT)
    changes = fields.Dict(allow_none=True)


class ResponseSchema(Out):
    response = fields.String(required=True, validate=validate.OneOf(["acknowledged",
                                                                      "disputed"]))
    text = fields.String(required=True)


class ActionSchema(Out):
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["reported", "retracted"]))
    confirmation = fields.String(required=True, validate=validate.OneOf(
        ["claimed", "acknowledged", "disputed"]))
    responses = fields.Dict(keys=fields.String(), values=fields.Nested(ResponseSchema),
                            required=True)
    reporting_partner = fields.String(required=True)
    partners = fields.List(fields.String(), required=True)
    kind = fields.String(required=True)
    occurred_on = fields.Nested(PeriodSchema, required=True)
    countries = fields.List(fields.String(), required=True)
    mechanisms = fields.List(fields.String(), required=True)
    themes = fields.List(fields.String(), required=True)
    agreement = fields.String(**NULLABLE_TEXT)
    commitment = fields.String(**NULLABLE_TEXT)
    venue = fields.String(required=True)
    summary = fields.String(required=True)
    references = fields.List(fields.String(), required=True)
    provenance = fields.String(required=True)
    findings = fields.List(fields.Nested(FindingSchema), required=True)
    first_recorded_at = fields.String(required=True)
    recorded_at = fields.String(required=True)
    recorded_by = fields.String(required=True)
    position = fields.Integer(required=True)


class ActionDetailSchema(ActionSchema):
    history = fields.List(fields.Nested(VersionSchema), required=True)


class ActionPageSchema(Out):
    items = fields.List(fields.Nested(ActionSchema), required=True)
    next = fields.String(allow_none=True, metadata={"description": "URL of the next page"})


class PartnerSchema(Out):
    id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    seat = fields.String(required=True)
    version = fields.Integer(required=True)
    recorded_at = fields.String(required=True)


class AgreementSchema(Out):
    id = fields.String(required=True)
    agreement_id = fields.String(required=True)
    reference = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    parties = fields.List(fields.String(), required=True)
    signed_on = fields.String(required=True)
    signed_at = fields.String(required=True)
    signatories = fields.List(fields.Dict(), required=True)
    commitments = fields.List(fields.Dict(), required=True)
    review_rule = fields.Dict(allow_none=True)
    summary = fields.String(required=True)
    provenance = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["in_force", "terminated"]))
    terminated_on = fields.String(**NULLABLE_TEXT)
    revised_on = fields.String()
    text_version = fields.Integer(required=True)
    version = fields.Integer(required=True)
    findings = fields.List(fields.Nested(FindingSchema), required=True)
    recorded_at = fields.String(required=True)
    position = fields.Integer(required=True)


class AgreementDetailSchema(AgreementSchema):
    history = fields.List(fields.Nested(VersionSchema), required=True)


class ObligationSchema(Out):
    agreement = fields.String(required=True)
    commitment = fields.String(required=True)
    period = fields.String(required=True)
    start = fields.String(required=True)
    end = fields.String(required=True)
    due_on = fields.String(required=True)
    responsible = fields.List(fields.String(), required=True)
    counterparts = fields.List(fields.String(), required=True)
    fulfilled_by = fields.List(fields.String(), required=True)
    cadence = fields.String(required=True)
    text = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    evidence = fields.List(fields.String(), required=True)


class ComplianceSchema(Out):
    agreement = fields.String(required=True)
    as_of = fields.String(required=True, metadata={
        "description": "the date the obligations are judged on (valid time)"})
    as_of_position = fields.Integer(required=True, metadata={
        "description": "the global position the registry is shown as of (transaction time)"})
    summary = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    obligations = fields.List(fields.Nested(ObligationSchema), required=True)


class EventSchema(Out):
    position = fields.Integer(required=True)
    originator_id = fields.String(required=True)
    originator_version = fields.Integer(required=True)
    topic = fields.String(required=True)
    state = fields.String(metadata={"description": "the stored payload, UTF-8 JSON"})
    state_b64 = fields.String(metadata={"description": "the stored payload when not UTF-8"})
    leaf_index = fields.Integer(allow_none=True, metadata={
        "description": "the event's place in the transparency log, from 0 (positions may "
                       "skip numbers; leaves do not); null until the log has caught up"})
    leaf_hash = fields.String(allow_none=True, metadata={
        "description": "the event's leaf in the transparency log (RFC 6962 leaf hash, hex); "
                       "null until the log has caught up"})


class EventPageSchema(Out):
    items = fields.List(fields.Nested(EventSchema), required=True)
    next = fields.String(allow_none=True)


class PluginRuleSchema(Out):
    id = fields.String(required=True)
    severity = fields.String(required=True)
    summary = fields.String(required=True)
    source = fields.String(required=True)


class PluginSchema(Out):
    name = fields.String(required=True)
    version = fields.String(required=True)
    hooks = fields.List(fields.String(), required=True)
    partners = fields.List(fields.String(), required=True)
    rules = fields.List(fields.Nested(PluginRuleSchema), required=True)
    vocabulary = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                             required=True)


class WherePartnerSchema(Out):
    partner = fields.String(required=True)
    kinds = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class WhereSchema(Out):
    country = fields.String(required=True)
    partners = fields.List(fields.Nested(WherePartnerSchema), required=True)


class ActivitySchema(Out):
    theme = fields.String()
    mechanism = fields.String()
    actions = fields.Integer(required=True)
    first_occurred = fields.String(required=True)
    last_occurred = fields.String(required=True)


class SummarySchema(Out):
    partners = fields.Integer(required=True)
    agreements = fields.Integer(required=True)
    actions = fields.Integer(required=True)
    actions_by_status = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                    required=True)
    actions_by_confirmation = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                          required=True)
    events = fields.Integer(required=True)
    last_position = fields.Integer(required=True)


class ProblemErrorSchema(Out):
    field = fields.String(required=True)
    rule = fields.String(required=True)
    message = fields.String(required=True)


class ProblemSchema(Out):
    """RFC 9457 problem details, as every error of this API is answered."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.List(fields.Nested(ProblemErrorSchema))
    findings = fields.List(fields.Nested(FindingSchema))
    plugin = fields.String()
    hook = fields.String()


class ImportReportSchema(Out):
    recorded = fields.Integer(required=True)
    receipts = fields.List(fields.Nested(ReceiptSchema), required=True)


# -- request headers (documented; read by api.context) -------------------------------------

IDEMPOTENCY_KEY = {"in": "header", "name": "Idempotency-Key", "required": False,
                   "schema": {"type": "string", "maxLength": 200},
                   "description": "a retry with the same key and body answers the first "
                                  "answer and records nothing new"}
IF_MATCH = {"in": "header", "name": "If-Match", "required": True,
            "schema": {"type": "string", "pattern": '^(W/)?"?[0-9]+"?$'},
            "description": "the version this update is based on (the resource's ETag)"}
WRITE = {"parameters": [IDEMPOTENCY_KEY]}
UPDATE = {"parameters": [IF_MATCH, IDEMPOTENCY_KEY]}


# -- query arguments ---------------------------------------------------------------------


POSITION = validate.Range(min=0, max=MAX_POSITION)  # positions fit a signed 64-bit integer
QUERY: dict[str, Any] = {"location": "query", "error_status_code": 400}  # unreadable: 400
AS_OF_POSITION = {"As-Of-Position": {
    "description": "the global position this answer shows the registry as of: `as_of` "
                   "resolved (a time becomes the last position recorded by then), or the "
                   "position the read models had reached when answering",
    "required": True, "schema": {"type": "integer", "minimum": 0}}}


class AsOf(fields.Field):
    """Transaction time: a global position, or a recorded time that the registry's clock
    resolves to the last position recorded by then. A date is the end of that day (UTC); a
    date-time without an offset is UTC."""

    default_error_messages = {"invalid": f"Not a valid position or time: give {MOMENT_HELP}"}

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "description": "answer as the registry stood then: an integer position or a "
                           f"date-time (transaction time). Accepts {MOMENT_HELP}.",
            "oneOf": [{"type": "integer", "minimum": 0, "maximum": MAX_POSITION},
                      {"type": "string", "format": "date-time"},
                      {"type": "string", "format": "date"}],
            **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Moment:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if value.strip().isdigit() and int(value) > MAX_POSITION:
            raise ValidationError(f"Must be greater than or equal to 0 and less than or "
                                  f"equal to {MAX_POSITION}.")
        try:
            return parse_moment(value)
        except ValueError:
            raise self.make_error("invalid") from None


class WaitArgs(Schema):
    min_position = fields.Integer(validate=POSITION, metadata={
        "description": "wait briefly until the read models include this position"})


class ReadArgs(WaitArgs):
    """Every projection read: as of a past position or time (transaction time), and wait
    until the read models have caught up with a position the caller wrote."""

    as_of = AsOf()


class PageArgs(ReadArgs):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    cursor = fields.String(validate=validate.Length(max=500))


class ActionArgs(PageArgs):
    partner = fields.String(validate=validate.Length(max=100))
    counterpart = fields.String(validate=validate.Length(max=100))
    country = fields.String(validate=validate.Length(max=10))
    kind = fields.String(validate=validate.Length(max=100))
    theme = fields.String(validate=validate.Length(max=100))
    mechanism = fields.String(validate=validate.Length(max=100))
    agreement = fields.String(validate=validate.Length(max=100))
    occurred_from = fields.Date()
    occurred_to = fields.Date()
    include_retracted = fields.Boolean(load_default=True)


class ComplianceArgs(ReadArgs):
    on = fields.Date(metadata={"description": "judge as of this date (valid time; default: "
                                              "today)"})


class WhereArgs(ReadArgs):
    country = fields.String(validate=validate.Length(equal=2))


class FlagArgs(PageArgs):
    rule = fields.String(validate=validate.Length(max=200))


class EventArgs(Schema):
    after = fields.Integer(load_default=0, validate=POSITION)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class AgreementArgs(ReadArgs):
    partner = fields.String(validate=validate.Length(max=100))
