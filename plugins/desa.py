"""UN DESA: the Department of Economic and Social Affairs (Division for Social Policy and
Development, New York), partner `un-desa`, and its joint work programme with OHCHR on the
Convention on the Rights of Persons with Disabilities of 9 November 2007 (seed
`002_08323403299c4f5b.txt`).

The programme divides the Secretariat's work on the Convention: DESA services the Conference
of States Parties (mechanism `crpd-cosp`), OHCHR the Committee (mechanism `crpd`). The rules
below check that division, the direction in which each body's outputs travel, who represents
OHCHR in New York, who organizes the Committee election, and duplication between the two
departments; the `coopreg_obligations` hook schedules per-session commitments by the actual
sessions of the Conference. Facts (sessions, servicing) live in `data/desa.json`, each with
its source, and are applied as of the date of the action. Every rule is a warning: the
programme "does not seek to restrict the activities of either department".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from registry.domain import ActionFacts, Commitment
from registry.hookspecs import hookimpl
from registry.rules import (
    AgreementSnapshot,
    DatedFact,
    Finding,
    Obligation,
    PartnerDeclaration,
    RegistryView,
    RuleInfo,
    VocabularyContribution,
)

__version__ = "0.1.0"

DATA_FILE = Path(__file__).with_name("data") / "desa.json"
DATA: dict[str, Any] = json.loads(DATA_FILE.read_text("utf-8"))

SEED = DATA["seed"]["document"]
PROGRAMME_DATE = date.fromisoformat(DATA["seed"]["dated"])  # 9 November 2007
DESA = DATA["partner"]["id"]  # "un-desa"
OHCHR = DATA["counterpart"]  # "ohchr"
COSP, COMMITTEE = "crpd-cosp", "crpd"
PER_SESSION = "per_session"

INTER_AGENCY_MEETING = "inter_agency_meeting"
SESSION_SERVICED = "session_serviced"
COMMITTEE_ELECTION_ORGANIZED = "committee_election_organized"


def cite(quote: str) -> str:
    """A `source` naming the seed and the sentence quoted from it."""
    return f'{SEED}: "{quote}"'


# The seed's sentences, word for word (tests check each is in the seed).
Q_SERVICING = ("DESA shall have primary responsibility for servicing the Conference of States "
               "parties and OHCHR shall have primary responsibility for servicing the Committee "
               "on the Rights of Persons with Disabilities.")
Q_ELECTION = ("To the extent that the Conference of States parties shall elect the members of "
              "the Committee, OHCHR shall organize and support the election process in "
              "consultation with the Office of Legal Affairs.")
Q_COMMITTEE_OUTPUTS = ("Relevant information concerning the Committee, as well as its output "
                       "(concluding observations, general comments, decisions on "
                       "communications, information relating to inquiries etc) will be "
                       "provided to DESA by OHCHR regularly.")
Q_COSP_INFORMATION = ("The secretariat of the Conference of States parties will transmit on a "
                      "regular basis relevant information from the Conference of States "
                      "parties (conclusions of sessions, invitations to intersessional "
                      "meetings, informal consultations etc.) to OHCHR.")
Q_STAFF_AT_COSP = ("OHCHR will undertake to send a staff member at an appropriate level to "
                   "attend meetings of the Conference of States parties.")
Q_NEW_YORK_OFFICE = ("For intersessional meetings and informal consultations, the OHCHR New "
                     "York Office, taking into account workload on staff, will represent OHCHR.")
Q_AVOID_DUPLICATION = ("DESA and OHCHR will coordinate on activities with a view to avoiding "
                       "duplication.")
Q_BOTH_DEPARTMENTS = ("However, it will not be considered duplication where the nature of the "
                      "activity requires representation of both departments (for example, "
                      "inter-agency meetings).")

SERVICING = "desa.servicing"
OUTPUTS_DIRECTION = "desa.outputs-direction"
NEW_YORK_OFFICE = "desa.new-york-office"
COMMITTEE_ELECTION = "desa.committee-election"
AVOID_DUPLICATION = "desa.avoid-duplication"
STAFF_AT_COSP = "desa.staff-at-cosp"

RULES = [
    RuleInfo(SERVICING, "A session of the Conference of States Parties (crpd-cosp) is serviced "
             "by DESA and a session of the Committee (crpd) by OHCHR; the other department "
             "reporting `session_serviced` for it is flagged.", cite(Q_SERVICING), "warning"),
    RuleInfo(OUTPUTS_DIRECTION, "Committee outputs travel from OHCHR to DESA, Conference "
             "information from DESA to OHCHR; a transmission between the two in the other "
             "direction is flagged.", f"{cite(Q_COMMITTEE_OUTPUTS)} {cite(Q_COSP_INFORMATION)}",
             "warning"),
    RuleInfo(NEW_YORK_OFFICE, "OHCHR is represented at intersessional meetings and informal "
             "consultations of the Conference by its New York Office: an OHCHR consultation on "
             "crpd-cosp outside the US is flagged.", cite(Q_NEW_YORK_OFFICE), "warning"),
    RuleInfo(COMMITTEE_ELECTION, "OHCHR, not DESA, organizes the election of Committee "
             "members.", cite(Q_ELECTION), "warning"),
    RuleInfo(AVOID_DUPLICATION, "The same kind of action reported by both DESA and OHCHR for "
             "overlapping dates is flagged as possible duplication, except inter-agency "
             "meetings.", f"{cite(Q_AVOID_DUPLICATION)} {cite(Q_BOTH_DEPARTMENTS)}", "warning"),
    RuleInfo(STAFF_AT_COSP, "Per-session commitments of an agreement with DESA fall due at "
             "each session of the Conference of States Parties (one obligation per session, "
             "due on its last day).", cite(Q_STAFF_AT_COSP), "warning"),
]


# -- facts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """A session of the Conference of States Parties: first and last day, both inclusive."""

    id: str  # "cosp-1"
    number: int
    first_day: date
    last_day: date
    source: str
    confirmed: bool
    note: str

    def fact(self) -> DatedFact:
        return DatedFact(subject="cosp-session", value=self.id, valid_from=self.first_day,
                         valid_to=self.last_day + timedelta(days=1), source=self.source,
                         confirmed=self.confirmed, note=self.note)


SESSIONS: tuple[Session, ...] = tuple(sorted(
    (Session(s["session"], s["number"], date.fromisoformat(s["first_day"]),
             date.fromisoformat(s["last_day"]), s["source"], s["confirmed"], s["note"])
     for s in DATA["cosp_sessions"]),
    key=lambda s: s.first_day))

SERVICING_FACTS: tuple[tuple[str, DatedFact], ...] = tuple(
    (s["partner"], DatedFact(
        subject="services", value=s["mechanism"],
        valid_from=date.fromisoformat(s["valid_from"]) if s["valid_from"] else None,
        valid_to=date.fromisoformat(s["valid_to"]) if s["valid_to"] else None,
        source=s["source"], confirmed=s["confirmed"], note=s["note"]))
    for s in DATA["servicing"])
BODIES = {s["mechanism"]: s["body"] for s in DATA["servicing"]}


def servicing_partner(mechanism: str, day: date) -> str | None:
    """The partner that services `mechanism` on `day`, if the data says."""
    for partner, fact in SERVICING_FACTS:
        if fact.value == mechanism and fact.holds_on(day):
            return partner
    return None


def under_programme(action: ActionFacts) -> bool:
    """The joint work programme concerns actions from its date (9 November 2007) on."""
    return action.occurred_on.end >= PROGRAMME_DATE


def concerns_the_convention(action: ActionFacts) -> bool:
    """The programme's coordination duty concerns work on the Convention: an action that
    names the Committee or the Conference, the rights of persons with disabilities, or
    involves both departments ("DESA and OHCHR staff members working on the Convention")."""
    return (bool({"crpd", "crpd-cosp"} & set(action.mechanisms))
            or "rights-of-persons-with-disabilities" in action.themes
            or {DESA, OHCHR} <= set(action.partners))


def other_department(partner: str) -> str | None:
    return {DESA: OHCHR, OHCHR: DESA}.get(partner)


# -- declarations ---------------------------------------------------------------------


@hookimpl
def coopreg_partners() -> list[PartnerDeclaration]:
    partner = DATA["partner"]
    facts = [fact for who, fact in SERVICING_FACTS if who == DESA]
    facts += [s.fact() for s in SESSIONS]
    return [PartnerDeclaration(partner["id"], partner["name"], tuple(facts))]


@hookimpl
def coopreg_vocabulary() -> VocabularyContribution:
    return VocabularyContribution(action_kinds={
        INTER_AGENCY_MEETING: "A meeting whose nature requires representation of both "
        "departments, e.g. of the UN system's agencies on the Convention; both reporting it "
        "is not duplication (" + cite(Q_BOTH_DEPARTMENTS) + ")",
        SESSION_SERVICED: "The secretariat serviced a session of a treaty body or conference "
        "(name it in `mechanisms`, e.g. crpd-cosp or crpd)",
        COMMITTEE_ELECTION_ORGANIZED: "The election of members of a treaty body (e.g. the "
        "CRPD Committee, elected by the Conference of States Parties) was organized and "
        "supported",
    })


@hookimpl
def coopreg_rules() -> list[RuleInfo]:
    return list(RULES)


# -- rules ------------------------------------------------------------------------------


def servicing(action: ActionFacts) -> list[Finding]:
    """DESA shall have primary responsibility for servicing the Conference of States parties
    and OHCHR shall have primary responsibility for servicing the Committee on the Rights of
    Persons with Disabilities.

    A `session_serviced` reported by DESA or OHCHR naming a body the other department
    services (as of the action's first day) is flagged, once per such body.
    """
    if action.kind != SESSION_SERVICED or other_department(action.reporting_partner) is None:
        return []
    found = []
    for i, mechanism in enumerate(action.mechanisms):
        servicer = servicing_partner(mechanism, action.occurred_on.start)
        if servicer is not None and servicer != action.reporting_partner:
            found.append(Finding(
                SERVICING, "warning",
                f"{action.reporting_partner} reports servicing a session of the "
                f"{BODIES[mechanism]} ({mechanism}), which {servicer} services",
                f"mechanisms[{i}]", cite(Q_SERVICING)))
    return found


def outputs_direction(action: ActionFacts) -> list[Finding]:
    """Relevant information concerning the Committee, as well as its output (concluding
    observations, general comments, decisions on communications, information relating to
    inquiries etc) will be provided to DESA by OHCHR regularly.

    The secretariat of the Conference of States parties will transmit on a regular basis
    relevant information from the Conference of States parties (conclusions of sessions,
    invitations to intersessional meetings, informal consultations etc.) to OHCHR.

    Between the two departments (one reports, the other is involved), `outputs_transmitted`
    naming the Committee (crpd) must be reported by OHCHR, and `outputs_transmitted` or
    `information_shared` naming the Conference (crpd-cosp) by DESA. An action naming both
    bodies (e.g. OHCHR's draft rules of procedure for the Committee election at the
    Conference) has no single direction and is not judged.
    """
    receiver = other_department(action.reporting_partner)
    if receiver is None or receiver not in action.partners:
        return []
    bodies = {COMMITTEE, COSP} & set(action.mechanisms)
    if len(bodies) != 1:
        return []
    (body,) = bodies
    if body == COMMITTEE and action.kind == "outputs_transmitted":
        sender, quote = OHCHR, Q_COMMITTEE_OUTPUTS
    elif body == COSP and action.kind in ("outputs_transmitted", "information_shared"):
        sender, quote = DESA, Q_COSP_INFORMATION
    else:
        return []
    if action.reporting_partner == sender:
        return []
    return [Finding(OUTPUTS_DIRECTION, "warning",
                    f"{action.reporting_partner} reports {action.kind} on the {BODIES[body]} "
                    f"({body}) to {receiver}; the programme has {sender} provide it to "
                    f"{other_department(sender)}", "reporting_partner", cite(quote))]


def new_york_office(action: ActionFacts) -> list[Finding]:
    """For intersessional meetings and informal consultations, the OHCHR New York Office,
    taking into account workload on staff, will represent OHCHR.

    An OHCHR `consultation` naming the Conference (crpd-cosp) whose countries do not
    include the United States (US, for New York) is flagged.
    """
    if (action.reporting_partner != OHCHR or action.kind != "consultation"
            or COSP not in action.mechanisms or "US" in action.countries):
        return []
    where = ", ".join(action.countries) or "no country"
    return [Finding(NEW_YORK_OFFICE, "warning",
                    f"an OHCHR consultation on the Conference of States Parties ({COSP}) is "
                    f"recorded in {where}; the OHCHR New York Office represents OHCHR at "
                    "intersessional meetings and informal consultations (name US)",
                    "countries", cite(Q_NEW_YORK_OFFICE))]


def committee_election(action: ActionFacts) -> list[Finding]:
    """To the extent that the Conference of States parties shall elect the members of the
    Committee, OHCHR shall organize and support the election process in consultation with
    the Office of Legal Affairs.

    A `committee_election_organized` reported by DESA is flagged.
    """
    if action.kind != COMMITTEE_ELECTION_ORGANIZED or action.reporting_partner != DESA:
        return []
    return [Finding(COMMITTEE_ELECTION, "warning",
                    f"{DESA} reports organizing the election of Committee members; OHCHR "
                    "organizes and supports it, with the Office of Legal Affairs",
                    "reporting_partner", cite(Q_ELECTION))]


ACTION_RULES = (servicing, outputs_direction, new_york_office, committee_election)


@hookimpl
def coopreg_validate_action(action: ActionFacts) -> list[Finding]:
    if not under_programme(action):
        return []
    return [finding for rule in ACTION_RULES for finding in rule(action)]


@hookimpl
def coopreg_related_actions(action: ActionFacts, view: RegistryView) -> list[Finding]:
    """DESA and OHCHR will coordinate on activities with a view to avoiding duplication.
    ... However, it will not be considered duplication where the nature of the activity
    requires representation of both departments (for example, inter-agency meetings).

    When DESA or OHCHR reports, each similar action (same kind, overlapping in time, see
    `RegistryView.similar_actions`) reported by the other department is flagged (`related`
    names it), unless the kind is `inter_agency_meeting`.
    """
    other = other_department(action.reporting_partner)
    if (other is None or action.kind == INTER_AGENCY_MEETING or not under_programme(action)
            or not concerns_the_convention(action)):
        return []
    candidates = view.similar_actions(action, reported_by=other)
    source = f"{cite(Q_AVOID_DUPLICATION)} {cite(Q_BOTH_DEPARTMENTS)}"
    return [Finding(AVOID_DUPLICATION, "warning",
                    f"{other} already reported a {action.kind} overlapping these dates "
                    f"({candidate['id']}): DESA and OHCHR coordinate to avoid duplication "
                    "(one department may present the views of the other); if the activity "
                    f"required both departments, report it as {INTER_AGENCY_MEETING}",
                    "kind", source, related=(str(candidate["id"]),))
            for candidate in candidates]


# -- compliance -----------------------------------------------------------------------


def concerns_committee_sessions(commitment: Commitment) -> bool:
    """A per-session commitment about the Committee's own sessions (which this plugin does
    not know), e.g. "OHCHR has primary responsibility for servicing the Committee": its
    text names the Committee and not the Conference of States Parties."""
    text = commitment.text.lower()
    return "committee" in text and "conference" not in text and "cosp" not in text


@hookimpl
def coopreg_obligations(agreement: AgreementSnapshot,
                        commitment: Commitment) -> list[Obligation] | None:
    """OHCHR will undertake to send a staff member at an appropriate level to attend
    meetings of the Conference of States parties.

    A `per_session` commitment of an agreement to which DESA is a party falls due at each
    session of the Conference that starts on or after the signature and before the
    termination: period `cosp-N`, from the session's first to its last day, due on the last.
    Anything else (other cadences, other agreements, commitments about the Committee's
    sessions) is left to the core (None).
    """
    if (commitment.cadence != PER_SESSION or DESA not in agreement.parties
            or concerns_committee_sessions(commitment)):
        return None
    return [
        Obligation(agreement=agreement.reference, commitment=commitment.id, period=s.id,
                   start=s.first_day, end=s.last_day, due_on=s.last_day,
                   responsible=commitment.responsible, counterparts=commitment.counterparts,
                   fulfilled_by=commitment.fulfilled_by, cadence=commitment.cadence,
                   text=commitment.text)
        for s in SESSIONS
        if s.first_day >= agreement.signed_on
        and (agreement.terminated_on is None or s.first_day < agreement.terminated_on)
    ]
