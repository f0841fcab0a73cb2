"""The registry's own answers to the compliance hooks, registered last (`trylast`) so any
partner plugin can answer first. They schedule commitments by cadence, accept an action
as evidence by kind, party and period, and judge an obligation by its due date."""

from __future__ import annotations

from datetime import date, timedelta

from registry.domain import ActionFacts, Commitment, DueRule, Source
from registry.hookspecs import hookimpl
from registry.rules import AgreementSnapshot, Evidence, Obligation

HORIZON_YEARS = 30  # schedules run this long after signature unless terminated earlier
DEFAULT_ONCE_MONTHS = 12
REVIEW = "review"


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)  # unreachable: day 28 exists in every month


def horizon(agreement: AgreementSnapshot) -> date:
    return agreement.terminated_on or date(agreement.signed_on.year + HORIZON_YEARS, 12, 31)


def review_commitment(agreement: AgreementSnapshot) -> Commitment | None:
    """The agreement's review rule (e.g. "revised two years after signature") as a
    commitment of all parties, fulfilled by recording a revision."""
    rule = agreement.review_rule
    if not rule:
        return None
    source = rule.get("source")
    return Commitment(
        id=REVIEW, text=f"Revise the agreement {rule['months_after_signature']} months "
        "after signature", responsible=agreement.parties, counterparts=(), cadence="once",
        due=DueRule("signature", rule["months_after_signature"]),
        fulfilled_by=("agreement_revised",), source=Source(**source) if source else None)


def _obligation(agreement: AgreementSnapshot, commitment: Commitment, period: str,
                start: date, end: date, due_on: date) -> Obligation:
    return Obligation(agreement=agreement.reference, commitment=commitment.id, period=period,
                      start=start, end=end, due_on=due_on,
                      responsible=commitment.responsible, counterparts=commitment.counterparts,
                      fulfilled_by=commitment.fulfilled_by, cadence=commitment.cadence,
                      text=commitment.text)


@hookimpl(trylast=True)
def coopreg_obligations(agreement: AgreementSnapshot,
                        commitment: Commitment) -> list[Obligation]:
    signed, until = agreement.signed_on, horizon(agreement)
    if commitment.cadence == "once":
        months = commitment.due.months_after or DEFAULT_ONCE_MONTHS
        period = REVIEW if commitment.id == REVIEW else "once"
        return [_obligation(agreement, commitment, period, signed, until,
                            add_months(signed, months))]
    if commitment.cadence == "on_request":
        return [_obligation(agreement, commitment, "on-request", signed, until, until)]
    # annual, regular, and per_session when no plugin knows the sessions: each year
    # counted from the signature, so the first period is a whole year, not a stub
    obligations, start = [], signed
    while start <= until:
        end = add_months(signed, 12 * (len(obligations) + 1)) - timedelta(days=1)
        obligations.append(_obligation(agreement, commitment, start.isoformat(), start, end,
                                       add_months(end, commitment.due.months_after)))
        start = end + timedelta(days=1)
    return obligations


@hookimpl(trylast=True)
def coopreg_is_evidence(obligation: Obligation, action: ActionFacts) -> bool:
    if action.agreement not in (None, obligation.agreement):
        return False
    if action.commitment not in (None, obligation.commitment):
        return False
    if action.kind not in obligation.fulfilled_by:
        return False
    if action.reporting_partner not in obligation.responsible:
        return False
    if obligation.counterparts and not set(obligation.counterparts) & set(action.partners):
        return False
    return (action.occurred_on.start <= obligation.end
            and action.occurred_on.end >= obligation.start)


@hookimpl(trylast=True)
def coopreg_obligation_status(obligation: Obligation, evidence: list[Evidence],
                              as_of: date) -> str:
    if evidence:
        return "met"
    if obligation.cadence == "on_request" or not obligation.fulfilled_by:
        return "not_applicable"  # until requested, or a standing duty no action evidences
    return "overdue" if as_of > obligation.due_on else "due"
