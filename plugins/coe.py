"""The Council of Europe (`coe`, Strasbourg): the partner of the "earlier similar model for
collaboration" OHCHR named when it signed its joint declaration with ODIHR on 12 June 2014.

What it knows is data, in `plugins/data/coe.json`, each fact dated and sourced: the member
States past and present (Greece's withdrawal and return, Russia's suspension and expulsion),
the parties to the European Convention on Human Rights, the observers and the applicants.
Facts the sources leave open are recorded with `confirmed=False` and a note saying why.

What it adds: the Council of Europe's bodies as mechanisms, the forms of OSCE-CoE-UN
co-operation as action kinds, and the themes of the 2005 OSCE-CoE Declaration on
Co-operation the core lacks. Its rules judge every action as of the action's own dates:

- `coe.member-state` (error): an action involving `coe` names only member States.
- `coe.echr-party` (error): an action naming the Court (`ecthr`) names only parties to the
  Convention, whoever reports it.
- `coe.body-mechanism` (warning): an action naming a Council of Europe body involves `coe`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from registry.domain import ActionFacts
from registry.domain.vocabulary import COUNTRIES
from registry.hookspecs import hookimpl
from registry.rules import (
    DatedFact,
    Finding,
    PartnerDeclaration,
    RuleInfo,
    VocabularyContribution,
)

PARTNER = "coe"
DATA_FILE = Path(__file__).with_name("data") / "coe.json"

MEMBER = "member-state"
ECHR_PARTY = "echr-party"
SUSPENDED = "representation-suspended"
OBSERVER = "observer"
APPLICANT = "applicant"
SEAT = "seat"
COUNTRY_SUBJECTS = frozenset({MEMBER, ECHR_PARTY, SUSPENDED, OBSERVER, APPLICANT})
SUBJECTS = COUNTRY_SUBJECTS | {SEAT}

ECTHR = "ecthr"

RULE_MEMBER = "coe.member-state"
RULE_ECHR = "coe.echr-party"
RULE_BODY = "coe.body-mechanism"


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _load(path: Path = DATA_FILE) -> dict[str, Any]:
    """The data file, with every fact group expanded into `DatedFact`s and checked: a broken
    file fails at import, so the host names this plugin at start-up."""
    data = json.loads(path.read_text(encoding="utf-8"))
    sources: dict[str, str] = data["sources"]
    facts = []
    for group in data["facts"]:
        subject = group["subject"]
        if subject not in SUBJECTS:
            raise ValueError(f"{path.name}: unknown subject {subject!r}")
        valid_from, valid_to = _day(group["valid_from"]), _day(group["valid_to"])
        if valid_from and valid_to and valid_to <= valid_from:
            raise ValueError(f"{path.name}: {subject} {group['values']} ends before it starts")
        for value in group["values"]:
            if subject in COUNTRY_SUBJECTS and value not in COUNTRIES:
                raise ValueError(f"{path.name}: {value!r} is not a country code")
            facts.append(DatedFact(subject=subject, value=value, valid_from=valid_from,
                                   valid_to=valid_to, source=sources[group["source"]],
                                   confirmed=group.get("confirmed", True),
                                   note=group.get("note", "")))
    partner = data["partner"]
    return {"partner": partner, "sources": sources, "facts": tuple(facts),
            "vocabulary": data["vocabulary"]}


_DATA = _load()
FACTS: tuple[DatedFact, ...] = _DATA["facts"]
SOURCES: dict[str, str] = _DATA["sources"]
VOCABULARY: dict[str, dict[str, str]] = _DATA["vocabulary"]
BODY_MECHANISMS: frozenset[str] = frozenset(VOCABULARY["mechanisms"])
# Why the registry speaks for the Council of Europe at all: the seed sentence.
PARTNER_SOURCE: str = SOURCES[_DATA["partner"]["source"]]


@cache  # the facts are fixed at import, and every action asks again about its countries
def facts_about(subject: str, value: str) -> tuple[DatedFact, ...]:
    """Every fact of this subject about this value (e.g. "member-state", "GR"), in date order."""
    return tuple(sorted((f for f in FACTS if f.subject == subject and f.value == value),
                        key=lambda f: f.valid_from or date.min))


def member_states(on: date) -> frozenset[str]:
    """The member States of the Council of Europe on a day."""
    return frozenset(f.value for f in FACTS if f.subject == MEMBER and f.holds_on(on))


# -- hooks ----------------------------------------------------------------------------


@hookimpl
def coopreg_partners() -> list[PartnerDeclaration]:
    return [PartnerDeclaration(partner_id=PARTNER, name=_DATA["partner"]["name"], facts=FACTS)]


@hookimpl
def coopreg_vocabulary() -> VocabularyContribution:
    return VocabularyContribution(action_kinds=dict(VOCABULARY["action_kinds"]),
                                  mechanisms=dict(VOCABULARY["mechanisms"]),
                                  themes=dict(VOCABULARY["themes"]))


@hookimpl
def coopreg_rules() -> list[RuleInfo]:
    return [
        RuleInfo(RULE_MEMBER, "Every country of an action involving the Council of Europe is "
                 "a member State on every day of the action", SOURCES["members"]),
        RuleInfo(RULE_ECHR, "An action naming the European Court of Human Rights ('ecthr') "
                 "names only parties to the European Convention on Human Rights on every "
                 "day of the action, whoever reports it", SOURCES["russia-echr"]),
        RuleInfo(RULE_BODY, "An action naming a Council of Europe body involves 'coe' among "
                 "its partners: CoE bodies are serviced by the Council of Europe",
                 f"{SOURCES['members']} (Bodies)", severity="warning"),
    ]


@hookimpl
def coopreg_validate_action(action: ActionFacts) -> list[Finding]:
    """Judge the action as of its own dates; what it needs is in the action and the facts."""
    findings = []
    if PARTNER in action.partners:
        findings += _status_findings(action, MEMBER)
    if ECTHR in action.mechanisms:
        findings += _status_findings(action, ECHR_PARTY)
    bodies = [m for m in action.mechanisms if m in BODY_MECHANISMS]
    if bodies and PARTNER not in action.partners:
        findings.append(_body_finding(bodies))
    return findings


# -- the rules ------------------------------------------------------------------------

_WORDS = {
    # subject: (rule, what it is to hold the subject, in short, what the rule requires)
    MEMBER: (RULE_MEMBER, "a member of the Council of Europe", "a member", "a member State"),
    ECHR_PARTY: (RULE_ECHR, "a party to the European Convention on Human Rights", "a party",
                 "a party to the Convention"),
}


def _status_findings(action: ActionFacts, subject: str) -> list[Finding]:
    rule = _WORDS[subject][0]
    start, end = action.occurred_on.start, action.occurred_on.end
    findings = []
    for i, country in enumerate(action.countries):
        facts = facts_about(subject, country)
        day = first_day_without(facts, start, end)
        if day is None:
            continue
        message, source = _why_not(subject, country, day, facts)
        if subject == ECHR_PARTY:
            message += f"; the mechanism {ECTHR!r} concerns parties only"
        findings.append(Finding(rule=rule, severity="error", message=message,
                                field=f"countries[{i}]", source=source))
    return findings


def first_day_without(facts: Sequence[DatedFact], start: date, end: date) -> date | None:
    """The first day from `start` to `end` (inclusive) on which none of `facts` holds.

    Only `start` and the days a fact ends can be such a first day: a later day is uncovered
    while the day before was covered only where some fact stopped holding that day."""
    candidates = {start, end} | {f.valid_to for f in facts
                                 if f.valid_to is not None and start < f.valid_to <= end}
    for day in sorted(candidates):
        if not any(f.holds_on(day) for f in facts):
            return day
    return None


def _why_not(subject: str, country: str, day: date,
             facts: Sequence[DatedFact]) -> tuple[str, str]:
    """Why `country` did not hold `subject` on `day`, in words, and the source saying so."""
    _, noun, short, required = _WORDS[subject]
    ended = max((f for f in facts if f.valid_to is not None and f.valid_to <= day),
                key=lambda f: f.valid_to or date.min, default=None)
    begins = min((f for f in facts if f.valid_from is not None and f.valid_from > day),
                 key=lambda f: f.valid_from or date.max, default=None)
    if ended and begins:
        reason = f"{country} was not {short} between {ended.valid_to} and {begins.valid_from}"
    elif ended:
        reason = f"{country} ceased to be {noun} on {ended.valid_to}"
    elif begins:
        reason = f"{country} became {noun} only on {begins.valid_from}"
    else:
        reason, source = _never(subject, country, day, noun)
        return f"{reason}, so {country} was not {required} on {day}", source
    deciding = [f for f in (ended, begins) if f is not None]
    unconfirmed = [f.note or "not confirmed" for f in deciding if not f.confirmed]
    if unconfirmed:
        reason += f" ({'; '.join(unconfirmed)})"
    return f"{reason}, so {country} was not {required} on {day}", deciding[0].source


def _never(subject: str, country: str, day: date, noun: str) -> tuple[str, str]:
    """For a country no fact of `subject` ever covered: what it is instead, if anything."""
    if subject == MEMBER:
        for other, words in ((OBSERVER, "an observer"), (APPLICANT, "an applicant")):
            status = [f for f in facts_about(other, country) if f.holds_on(day)]
            if status:
                note = f" ({status[0].note})" if other == APPLICANT and status[0].note else ""
                return f"{country} is {words}, not a member{note}", status[0].source
        return f"{country} has never been {noun}", SOURCES["members"]
    return f"{country} has never been {noun}", SOURCES["echr-from-membership"]


def _body_finding(bodies: Iterable[str]) -> Finding:
    names = sorted(set(bodies))
    listed = ", ".join(f"{m!r} ({VOCABULARY['mechanisms'][m]})" for m in names)
    what = "is a Council of Europe body" if len(names) == 1 else "are Council of Europe bodies"
    return Finding(rule=RULE_BODY, severity="warning",
                   message=f"{listed} {what}, but the action does not involve {PARTNER!r}: "
                           "CoE bodies are serviced by the Council of Europe",
                   field="partners", source=f"{SOURCES['members']} (Bodies)")
