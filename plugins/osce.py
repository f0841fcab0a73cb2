"""The OSCE/ODIHR partner plugin (`osce`).

Speaks for `osce-odihr`, the OSCE Office for Democratic Institutions and Human Rights
(Warsaw), party to the OHCHR-ODIHR joint declaration of 12 June 2014 (seed
000_b0ed676a94895224.txt). Its facts are data, in `plugins/data/osce.json`, each with its
source and whether it is confirmed; every rule applies them as of the action's dates.

Rules:
- `osce.participating-state` (error): every country of an action involving `osce-odihr`
  is an OSCE participating State on every day of the action.
- `osce.upr-contribution` (warning): a `upr_contribution` is reported by `osce-odihr` and
  names the `upr` mechanism.
- `osce.field-region` (warning): an action with a `field-<region>` theme has a country of
  that region, and no country outside the regions it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from registry.domain import ActionFacts
from registry.hookspecs import hookimpl
from registry.rules import (
    DatedFact,
    Finding,
    PartnerDeclaration,
    RegistryView,
    RuleInfo,
    VocabularyContribution,
)

__version__ = "0.1.0"

PARTNER = "osce-odihr"
SUBJECT = "participating-state"
DATA_FILE = Path(__file__).with_name("data") / "osce.json"
SEED = "seeds/000_b0ed676a94895224.txt (OHCHR-ODIHR joint declaration, 12 June 2014)"

PARTICIPATING_STATE = "osce.participating-state"
UPR_CONTRIBUTION = "osce.upr-contribution"
FIELD_REGION = "osce.field-region"

UPR_KIND = "upr_contribution"
UPR = "upr"


@dataclass(frozen=True)
class State:
    code: str
    name: str
    periods: tuple[DatedFact, ...]  # sorted by valid_from, None first
    ended_because: dict[date, str]  # valid_to -> why participation ended then

    @cached_property
    def boundaries(self) -> tuple[date, ...]:
        """Every day participation may change, in order (computed once: facts are fixed)."""
        return tuple(sorted({d for fact in self.periods for d in (fact.valid_from,
                                                                  fact.valid_to)
                             if d is not None}))


@dataclass(frozen=True)
class Region:
    theme: str
    name: str
    countries: frozenset[str]


@dataclass(frozen=True)
class OsceData:
    partner_name: str
    states: dict[str, State]
    partners_for_co_operation: dict[str, tuple[str, str]]  # code -> (name, group)
    other_names: dict[str, str]
    regions: dict[str, Region]

    def name(self, code: str) -> str:
        if code in self.states:
            return self.states[code].name
        if code in self.partners_for_co_operation:
            return self.partners_for_co_operation[code][0]
        return self.other_names.get(code, code)

    def named(self, code: str) -> str:
        """'Mongolia (MN)', or just the code when no name is known."""
        name = self.name(code)
        return code if name == code else f"{name} ({code})"


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def load(path: Path = DATA_FILE) -> OsceData:
    """The plugin's facts, read from its data file (read once, at import)."""
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    sources: dict[str, str] = raw["sources"]
    states = {}
    for code, entry in raw["participating_states"].items():
        periods = []
        ended = {}
        for p in entry["periods"]:
            periods.append(DatedFact(subject=SUBJECT, value=code, valid_from=_day(p["from"]),
                                     valid_to=_day(p["to"]), source=sources[p["source"]],
                                     confirmed=p["confirmed"], note=p["note"]))
            if p["to"] and p.get("ended_because"):
                ended[date.fromisoformat(p["to"])] = p["ended_because"]
        periods.sort(key=lambda f: f.valid_from or date.min)
        states[code] = State(code, entry["name"], tuple(periods), ended)
    partners = {code: (name, group)
                for group, members in raw["partners_for_co_operation"].items()
                if isinstance(members, dict) for code, name in members.items()}
    regions = {theme: Region(theme, r["region"], frozenset(r["countries"]))
               for theme, r in raw["field_regions"].items()}
    return OsceData(raw["partner"]["name"], states, partners, raw.get("other_names", {}),
                    regions)


DATA = load()


# -- declarations -----------------------------------------------------------------------

@hookimpl
def coopreg_partners() -> list[PartnerDeclaration]:
    facts = tuple(fact for state in DATA.states.values() for fact in state.periods)
    return [PartnerDeclaration(PARTNER, DATA.partner_name, facts)]


@hookimpl
def coopreg_vocabulary() -> VocabularyContribution:
    themes = {
        "implementation-of-recommendations": (
            "Assisting governments in implementing the recommendations of international human "
            "rights mechanisms (treaty bodies, Special Procedures, UPR): the purpose of the "
            "OHCHR-ODIHR cooperation (seed: 'cooperate in assisting governments of the 57 OSCE "
            "participating States in the implementation of recommendations of international "
            "human rights mechanisms')"),
    }
    for region in DATA.regions.values():
        themes[region.theme] = (
            f"Cooperation between the OHCHR and OSCE field presences in {region.name} "
            f"({', '.join(sorted(region.countries))}); seed: 'field presences in Central Asia, "
            "South Caucasus, eastern and southern Europe and most recently in Ukraine'")
    return VocabularyContribution(
        action_kinds={UPR_KIND: (
            "An OSCE contribution to the Universal Periodic Review: information on a "
            "participating State submitted for its review (seed: 'actively contributes to the "
            "Universal Periodic Review by submitting information related to its Member "
            "States')")},
        themes=themes)


@hookimpl
def coopreg_rules() -> list[RuleInfo]:
    return [
        RuleInfo(PARTICIPATING_STATE,
                 "Every country of an action involving osce-odihr is an OSCE participating "
                 "State on every day of the action (admissions, and Yugoslavia's suspension "
                 "from July 1992 to November 2000, as dated in plugins/data/osce.json)",
                 f"{SEED}: 'OHCHR and the OSCE ODIHR will cooperate in assisting governments "
                 "of the 57 OSCE participating States ...'; dated facts from domain-facts.md "
                 "and osce.org (plugins/data/osce.json)", "error"),
        RuleInfo(UPR_CONTRIBUTION,
                 f"An action of kind {UPR_KIND} is reported by {PARTNER} and names the "
                 f"mechanism {UPR}",
                 f"{SEED}: 'The OSCE ... actively contributes to the Universal Periodic Review "
                 "by submitting information related to its Member States'", "warning"),
        RuleInfo(FIELD_REGION,
                 "An action with a field-<region> theme names at least one country of each "
                 "such region, and only countries of the regions it names",
                 f"{SEED}: 'Cooperation and dialogue was also established between the two "
                 "organizations' field presences in Central Asia, South Caucasus, eastern and "
                 "southern Europe and most recently in Ukraine'; region members in "
                 "plugins/data/osce.json", "warning"),
    ]


# -- validation ---------------------------------------------------------------------------

@hookimpl
def coopreg_validate_action(action: ActionFacts, view: RegistryView) -> list[Finding]:
    return (participating_state_findings(action) + upr_contribution_findings(action)
            + field_region_findings(action))


def participating_state_findings(action: ActionFacts) -> list[Finding]:
    if PARTNER not in action.partners:
        return []
    start, end = action.occurred_on.start, action.occurred_on.end
    findings = []
    for i, code in enumerate(action.countries):
        state = DATA.states.get(code)
        day = first_day_outside(state, start, end)
        if day is None:
            continue
        reason, source = why_not(code, state, day)
        findings.append(Finding(
            rule=PARTICIPATING_STATE, severity="error", field=f"countries[{i}]",
            message=(f"{DATA.named(code)} was not an OSCE participating State on "
                     f"{day.isoformat()}: {reason}; an action involving {PARTNER} must be in "
                     "participating States only"),
            source=source))
    return findings


def first_day_outside(state: State | None, start: date, end: date) -> date | None:
    """The first day from `start` to `end` (inclusive) on which the State does not
    participate, or None. Participation changes only at the facts' boundaries, so the
    start and each boundary within the period are the only days to look at."""
    if state is None:
        return start
    for day in [start, *(d for d in state.boundaries if start < d <= end)]:
        if not any(fact.holds_on(day) for fact in state.periods):
            return day
    return None


def why_not(code: str, state: State | None, day: date) -> tuple[str, str]:
    """Why the country was not a participating State on `day`, and the fact's source."""
    name = DATA.name(code)
    if state is None or not state.periods:
        source = ("plugins/data/osce.json: the 57 participating States (domain-facts.md) and "
                  "the Partners for Co-operation")
        if code in DATA.partners_for_co_operation:
            group = DATA.partners_for_co_operation[code][1]
            return (f"{name} is an OSCE {group.capitalize()} Partner for Co-operation, not a "
                    "participating State"), source
        return f"{name} is not an OSCE participating State", source
    earlier = [f for f in state.periods if f.valid_to is not None and f.valid_to <= day]
    later = [f for f in state.periods if f.valid_from is not None and f.valid_from > day]
    if not earlier:
        return f"{name} became a participating State on {_dated(later[0])}", later[0].source
    ended = max(earlier, key=lambda f: f.valid_to or date.min)
    assert ended.valid_to is not None
    reason = state.ended_because.get(
        ended.valid_to, f"{name} ceased to be a participating State on {ended.valid_to}")
    if later:
        reason += f"; {name} became a participating State again on {_dated(later[0])}"
    return reason, ended.source


def _dated(fact: DatedFact) -> str:
    assert fact.valid_from is not None
    day = fact.valid_from.isoformat()
    return day if fact.confirmed else f"{day} (date not confirmed)"


def upr_contribution_findings(action: ActionFacts) -> list[Finding]:
    if action.kind != UPR_KIND:
        return []
    source = (f"{SEED}: 'actively contributes to the Universal Periodic Review by submitting "
              "information related to its Member States'")
    findings = []
    if action.reporting_partner != PARTNER:
        findings.append(Finding(
            rule=UPR_CONTRIBUTION, severity="warning", field="reporting_partner",
            message=(f"a {UPR_KIND} is the OSCE's own contribution to the Universal Periodic "
                     f"Review and should be reported by {PARTNER}, not "
                     f"{action.reporting_partner}"),
            source=source))
    if UPR not in action.mechanisms:
        findings.append(Finding(
            rule=UPR_CONTRIBUTION, severity="warning", field="mechanisms",
            message=f"a {UPR_KIND} should name the mechanism {UPR!r} (Universal Periodic "
                    "Review)",
            source=source))
    return findings


def field_region_findings(action: ActionFacts) -> list[Finding]:
    named = [(i, DATA.regions[t]) for i, t in enumerate(action.themes) if t in DATA.regions]
    if not named:
        return []
    source = (f"{SEED}: 'field presences in Central Asia, South Caucasus, eastern and southern "
              "Europe and most recently in Ukraine'; region members in plugins/data/osce.json")
    findings = []
    for i, region in named:
        if not region.countries.intersection(action.countries):
            findings.append(Finding(
                rule=FIELD_REGION, severity="warning", field=f"themes[{i}]",
                message=(f"the theme {region.theme} is about the OSCE field presences in "
                         f"{region.name}, but the action names none of its countries "
                         f"({', '.join(sorted(region.countries))})"),
                source=source))
    allowed = frozenset().union(*(region.countries for _, region in named))
    themes = ", ".join(dict.fromkeys(region.theme for _, region in named))
    for j, code in enumerate(action.countries):
        if code not in allowed:
            findings.append(Finding(
                rule=FIELD_REGION, severity="warning", field=f"countries[{j}]",
                message=(f"{DATA.named(code)} is outside the field region of the "
                         f"theme {themes} ({', '.join(sorted(allowed))})"),
                source=source))
    return findings
