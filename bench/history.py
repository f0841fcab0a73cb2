"""A realistic cooperation history for the scale benchmark, as the JSON commands partners
would send: ten partners, the demo's two agreements from the seed documents plus eight
illustrative ones, and a stream of actions with amendments, retractions,
acknowledgements and disputes. The agreements are registered and revised once each at the
start (as a registry seeded with its agreements would be); `revision()` makes one more, for
measuring what a revision costs at a given size.

The stream comes in batches, each sent by one principal (a partner records, corrects and
answers as itself; an admin revises agreements), exactly as `Registry.execute_batch`
takes them. Every command records exactly one event, so N commands make N events.
Commands refer only to actions whose ids came back in earlier receipts (`recorded`).

Dates fall between each agreement's signature (or 2008) and the end of 2024. Countries are
drawn, for each action, from the States in which every rule of its partners holds
throughout those years: OSCE participating States when `osce-odihr` is involved, Council
of Europe members when `coe` is, parties to the European Convention when the Court is
named (the plugins' own data decide, so every action passes their checks), the African
Union's members for the African Commission, the OAS's for the Inter-American Commission.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from plugins import coe, osce
from registry.commands import Receipt
from registry.demo import scenario

FIRST_DAY, LAST_DAY = date(2008, 1, 1), date(2024, 12, 31)
ADMIN = "admin:bench"
POOL = 4000  # recent actions each partner may still correct or answer

# id: (name, kind, seat, share of the batches it sends)
PARTNERS: dict[str, tuple[str, str, str, float]] = {
    "ohchr": ("Office of the United Nations High Commissioner for Human Rights", "un_entity",
              "Geneva", 0.24),
    "osce-odihr": ("OSCE Office for Democratic Institutions and Human Rights",
                   "regional_organization", "Warsaw", 0.15),
    "coe": ("Council of Europe", "regional_organization", "Strasbourg", 0.14),
    "un-desa": ("United Nations Department of Economic and Social Affairs, Division for "
                "Social Policy and Development", "un_entity", "New York", 0.09),
    "unhcr": ("Office of the United Nations High Commissioner for Refugees", "un_entity",
              "Geneva", 0.08),
    "unicef": ("United Nations Children's Fund", "un_entity", "New York", 0.08),
    "undp": ("United Nations Development Programme", "un_entity", "New York", 0.06),
    "eu-fra": ("European Union Agency for Fundamental Rights", "regional_organization",
               "Vienna", 0.06),
    "au-achpr": ("African Commission on Human and Peoples' Rights", "regional_organization",
                 "Banjul", 0.05),
    "oas-iachr": ("Inter-American Commission on Human Rights", "regional_organization",
                  "Washington, D.C.", 0.05),
}


def codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Capitals, for venues and summaries; also the world the unconstrained partners work in.
_CAPITALS = (
    "AD:Andorra la Vella;AL:Tirana;AM:Yerevan;AT:Vienna;AZ:Baku;BA:Sarajevo;BE:Brussels;"
    "BG:Sofia;BY:Minsk;CA:Ottawa;CH:Bern;CY:Nicosia;CZ:Prague;DE:Berlin;DK:Copenhagen;"
    "EE:Tallinn;ES:Madrid;FI:Helsinki;FR:Paris;GB:London;GE:Tbilisi;GR:Athens;HR:Zagreb;"
    "HU:Budapest;IE:Dublin;IS:Reykjavik;IT:Rome;KG:Bishkek;KZ:Astana;LI:Vaduz;LT:Vilnius;"
    "LU:Luxembourg;LV:Riga;MC:Monaco;MD:Chisinau;ME:Podgorica;MK:Skopje;MN:Ulaanbaatar;"
    "MT:Valletta;NL:The Hague;NO:Oslo;PL:Warsaw;PT:Lisbon;RO:Bucharest;RS:Belgrade;"
    "RU:Moscow;SE:Stockholm;SI:Ljubljana;SK:Bratislava;SM:San Marino;TJ:Dushanbe;"
    "TM:Ashgabat;TR:Ankara;UA:Kyiv;US:Washington, D.C.;UZ:Tashkent;VA:Vatican City;"
    "DZ:Algiers;EG:Cairo;ET:Addis Ababa;GH:Accra;KE:Nairobi;NG:Abuja;SN:Dakar;ZA:Pretoria;"
    "UG:Kampala;TZ:Dodoma;RW:Kigali;ML:Bamako;CD:Kinshasa;SD:Khartoum;TN:Tunis;MA:Rabat;"
    "GM:Banjul;CM:Yaounde;MZ:Maputo;ZW:Harare;AR:Buenos Aires;BO:La Paz;BR:Brasilia;"
    "CL:Santiago;CO:Bogota;CR:San Jose;EC:Quito;GT:Guatemala City;HN:Tegucigalpa;"
    "HT:Port-au-Prince;MX:Mexico City;NI:Managua;PA:Panama City;PE:Lima;PY:Asuncion;"
    "SV:San Salvador;UY:Montevideo;JM:Kingston;DO:Santo Domingo;AF:Kabul;BD:Dhaka;"
    "ID:Jakarta;IN:New Delhi;IQ:Baghdad;JO:Amman;KH:Phnom Penh;LB:Beirut;LK:Colombo;"
    "MM:Naypyidaw;NP:Kathmandu;PH:Manila;PK:Islamabad;SY:Damascus;TH:Bangkok;YE:Sanaa;"
    "PS:Ramallah;FJ:Suva;PG:Port Moresby")
CAPITALS = dict(pair.split(":") for pair in _CAPITALS.split(";"))
AFRICA = codes("DZ EG ET GH KE NG SN ZA UG TZ RW ML CD SD TN MA GM CM MZ ZW")
AMERICAS = codes("AR BO BR CA CL CO CR EC GT HN HT MX NI PA PE PY SV US UY JM DO")

THEMES = ("democracy", "rule-of-law", "human-rights", "non-discrimination", "gender-equality",
          "human-rights-education", "combating-trafficking", "legislation-review",
          "freedom-of-expression", "rights-of-persons-with-disabilities")
MECHANISMS = ("upr", "ccpr", "cescr", "cedaw", "cat", "spt", "crc", "cmw", "crpd", "ced",
              "cerd", "special-procedures")
COE_BODIES = ("ecthr", "ecri", "cpt", "greta", "grevio", "venice-commission",
              "coe-commissioner", "acfc")
KINDS = {  # kind -> what the summary says was done
    "information_shared": "shared information on {topic}",
    "work_plan_shared": "shared its {year} work plan",
    "outputs_transmitted": "transmitted the outputs of its latest session on {topic}",
    "meeting_attended": "attended a meeting on {topic}",
    "expert_meeting_held": "held an expert meeting on {topic}",
    "joint_mission": "conducted a joint mission on {topic}",
    "joint_activity": "organized a joint activity on {topic}",
    "statement_delivered": "delivered a statement on {topic}",
    "submission_to_mechanism": "made a submission on {topic}",
    "consultation": "held consultations on {topic}",
    "training": "ran a training on {topic} for officials",
    "focal_point_designated": "designated a focal point for {topic}",
    "inter_agency_meeting": "took part in an inter-agency meeting on {topic}",
    "coordination_group_meeting": "met in the Coordination Group on {topic}",
}


# -- who may be named where --------------------------------------------------------------


def _osce_throughout(code: str) -> bool:
    return osce.first_day_outside(osce.DATA.states.get(code), FIRST_DAY, LAST_DAY) is None


def _coe_throughout(subject: str, code: str) -> bool:
    return coe.first_day_without(coe.facts_about(subject, code), FIRST_DAY, LAST_DAY) is None


WORLD = frozenset(CAPITALS)
REGIONS: dict[str, frozenset[str]] = {  # partner -> the States its rules allow it to name
    "osce-odihr": frozenset(c for c in WORLD if _osce_throughout(c)),
    "coe": frozenset(c for c in WORLD if _coe_throughout(coe.MEMBER, c)),
    "eu-fra": codes("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK "
                    "SI ES SE"),
    "au-achpr": AFRICA,
    "oas-iachr": AMERICAS,
}
ECHR_PARTIES = frozenset(c for c in WORLD if _coe_throughout(coe.ECHR_PARTY, c))


def allowed_countries(partners: Sequence[str]) -> list[str]:
    pool = WORLD
    for partner in partners:
        pool = pool & REGIONS.get(partner, WORLD)
    return sorted(pool)


# -- agreements -----------------------------------------------------------------------


def _commitment(id: str, text: str, responsible: list[str], cadence: str,
                fulfilled_by: list[str]) -> dict[str, Any]:
    return {"id": id, "text": text, "responsible": responsible, "cadence": cadence,
            "fulfilled_by": fulfilled_by}


def _agreement(reference: str, kind: str, title: str, parties: list[str], signed_on: str,
               signed_at: str, commitments: list[dict[str, Any]],
               review_months: int | None = None) -> dict[str, Any]:
    return {"command": "register_agreement", "reference": reference, "kind": kind,
            "title": title, "parties": parties, "signed_on": signed_on, "signed_at": signed_at,
            "commitments": commitments, "provenance": "illustrative",
            "review_rule": {"months_after_signature": review_months} if review_months else None,
            "summary": f"Illustrative agreement between {' and '.join(parties)} for the scale "
                       "benchmark."}


ILLUSTRATIVE_AGREEMENTS = [
    _agreement("coe-ohchr-2008", "exchange_of_letters",
               "Exchange of letters on co-operation between the Council of Europe and OHCHR",
               ["coe", "ohchr"], "2008-02-20", "Strasbourg", [
                   _commitment("annual-consultations", "The secretariats hold consultations "
                               "every year.", ["coe", "ohchr"], "annual", ["consultation"]),
                   _commitment("share-country-findings", "Each shares its monitoring bodies' "
                               "findings on member States with the other.", ["coe", "ohchr"],
                               "regular", ["information_shared", "outputs_transmitted"])],
               review_months=36),
    _agreement("coe-osce-odihr-2008", "joint_declaration",
               "Declaration on co-operation between the Council of Europe and OSCE/ODIHR",
               ["coe", "osce-odihr"], "2008-05-12", "Warsaw", [
                   _commitment("coordination-group", "The Coordination Group meets twice a "
                               "year.", ["coe", "osce-odihr"], "regular",
                               ["coordination_group_meeting", "consultation"]),
                   _commitment("joint-legislative-review", "Legislation is reviewed jointly "
                               "where both are asked.", ["coe", "osce-odihr"], "on_request",
                               ["joint_activity", "information_shared"])]),
    _agreement("eu-fra-coe-2008", "memorandum_of_understanding",
               "Agreement between the European Union Agency for Fundamental Rights and the "
               "Council of Europe", ["eu-fra", "coe"], "2008-06-18", "Luxembourg", [
                   _commitment("annual-meeting", "The two meet every year to co-ordinate "
                               "their work plans.", ["eu-fra", "coe"], "annual",
                               ["meeting_attended", "work_plan_shared"])]),
    _agreement("unhcr-ohchr-2011", "memorandum_of_understanding",
               "Memorandum of understanding between UNHCR and OHCHR", ["unhcr", "ohchr"],
               "2011-03-01", "Geneva", [
                   _commitment("joint-protection-missions", "Joint missions on the protection "
                               "of refugees and stateless persons.", ["unhcr", "ohchr"],
                               "regular", ["joint_mission", "joint_activity"]),
                   _commitment("training-of-staff", "Each trains the other's staff on its "
                               "mandate.", ["unhcr", "ohchr"], "annual", ["training"])],
               review_months=24),
    _agreement("unicef-ohchr-2012", "joint_work_programme",
               "Joint work programme of UNICEF and OHCHR on child rights", ["unicef", "ohchr"],
               "2012-09-10", "New York", [
                   _commitment("crc-follow-up", "Support to States following up the "
                               "Committee on the Rights of the Child.", ["unicef", "ohchr"],
                               "regular", ["joint_activity", "training",
                                           "submission_to_mechanism"]),
                   _commitment("work-plans", "Each shares its annual work plan.",
                               ["unicef", "ohchr"], "annual", ["work_plan_shared"])]),
    _agreement("undp-ohchr-2013", "memorandum_of_understanding",
               "Memorandum of understanding between UNDP and OHCHR on national human rights "
               "institutions", ["undp", "ohchr"], "2013-01-15", "New York", [
                   _commitment("nhri-support", "Joint support to national human rights "
                               "institutions.", ["undp", "ohchr"], "regular",
                               ["joint_activity", "joint_mission", "training"])]),
    _agreement("oas-iachr-ohchr-2014", "memorandum_of_understanding",
               "Memorandum of understanding between the IACHR and OHCHR",
               ["oas-iachr", "ohchr"], "2014-11-24", "Washington, D.C.", [
                   _commitment("country-visits", "Co-ordinated country visits and "
                               "follow-up.", ["oas-iachr", "ohchr"], "regular",
                               ["joint_mission", "information_shared"])],
               review_months=48),
    _agreement("au-achpr-ohchr-2015", "exchange_of_letters",
               "Exchange of letters between the African Commission and OHCHR",
               ["au-achpr", "ohchr"], "2015-05-04", "Banjul", [
                   _commitment("joint-activities", "Joint promotion activities and expert "
                               "meetings.", ["au-achpr", "ohchr"], "regular",
                               ["joint_activity", "expert_meeting_held", "consultation"])]),
]


def agreement_commands() -> list[dict[str, Any]]:
    """The demo's two agreements (from the seed documents), then the illustrative ones."""
    demo = [{k: v for k, v in c.items() if k != "by"} for c in scenario()["commands"]
            if c["command"] == "register_agreement"]
    return demo + ILLUSTRATIVE_AGREEMENTS


@dataclass(frozen=True)
class AgreementInfo:
    reference: str
    parties: tuple[str, ...]
    signed_on: date
    commitments: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]  # id, who, kinds


def agreement_info(command: dict[str, Any]) -> AgreementInfo:
    return AgreementInfo(
        command["reference"], tuple(command["parties"]),
        date.fromisoformat(command["signed_on"]),
        tuple((c["id"], tuple(c["responsible"]), tuple(c["fulfilled_by"]))
              for c in command["commitments"] if c["fulfilled_by"]))


# -- the stream -----------------------------------------------------------------------


@dataclass
class Recorded:
    """What the generator remembers of an action it may later correct or answer."""

    action_id: str
    reporter: str
    partners: tuple[str, ...]
    start: date
    corrections: int = 0
    answered: set[str] = field(default_factory=set)
    retracted: bool = False


class Pool:
    """A bounded, uniformly sampled set of recent actions (O(1) pick and removal)."""

    def __init__(self, rng: random.Random, size: int = POOL) -> None:
        self.rng, self.size, self.items = rng, size, []  # type: list[Recorded]

    def add(self, item: Recorded) -> None:
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            self.items[self.rng.randrange(self.size)] = item  # the oldest fade out

    def take(self, usable: Any) -> Recorded | None:
        """A random usable item, dropping the unusable ones met on the way."""
        while self.items:
            index = self.rng.randrange(len(self.items))
            item = self.items[index]
            if usable(item):
                return item
            self.items[index] = self.items[-1]
            self.items.pop()
        return None


# share of the commands in a partner's batch, by command (reports fill the rest)
MIX = {"acknowledge_action": 0.15, "amend_action": 0.08, "retract_action": 0.03,
       "dispute_action": 0.01}


class History:
    """Deterministic for a seed: the same batches, given the same receipts."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.agreements = [agreement_info(c) for c in agreement_commands()]
        self.own = {p: Pool(self.rng) for p in PARTNERS}  # live actions each reported
        self.to_answer = {p: Pool(self.rng) for p in PARTNERS}  # actions naming each
        self.reported: list[Recorded | None] = []  # per command of the last batch
        self.revisions = 0
        partners = [{"command": "register_partner", "partner_id": p, "name": name,
                     "kind": kind, "seat": seat} for p, (name, kind, seat, _) in PARTNERS.items()]
        self.opening = [(ADMIN, partners), (ADMIN, agreement_commands()),
                        (ADMIN, [self.revision(a) for a in self.agreements])]
        self.sample: list[str] = []  # a uniform sample of action ids, for reads
        self.actions = 0

    def batch(self, size: int) -> tuple[str, list[dict[str, Any]]]:
        """The next batch: first the partners, the agreements and a revision of each (an
        admin records them, 10 commands a batch); then one partner's reports, corrections
        and answers (`size` commands)."""
        if self.opening:
            by, commands = self.opening.pop(0)
            self.reported = [None] * len(commands)
            return by, commands
        self.reported = []
        partners, weights = zip(*((p, w[3]) for p, w in PARTNERS.items()), strict=True)
        partner = self.rng.choices(partners, weights)[0]
        commands = [self.command(partner) for _ in range(size)]
        return f"partner:{partner}", commands

    def reports(self, partner: str, size: int) -> list[dict[str, Any]]:
        """`size` new actions reported by one partner (the single-write sample)."""
        self.reported = []
        return [self.report(partner) for _ in range(size)]

    def recorded(self, receipts: Sequence[Receipt]) -> None:
        """The receipts of the last batch: new actions become correctable and answerable."""
        for pending, receipt in zip(self.reported, receipts, strict=True):
            if pending is None:
                continue
            pending.action_id = receipt.aggregate_id
            self.own[pending.reporter].add(pending)
            for partner in pending.partners:
                if partner != pending.reporter:
                    self.to_answer[partner].add(pending)
            self.actions += 1
            if len(self.sample) < 1000:
                self.sample.append(receipt.aggregate_id)
            elif self.rng.random() < 1000 / self.actions:
                self.sample[self.rng.randrange(1000)] = receipt.aggregate_id
        self.reported = []

    # -- commands ---------------------------------------------------------------------

    def command(self, partner: str) -> dict[str, Any]:
        draw = self.rng.random()
        for name, share in MIX.items():
            if draw < share:
                made = self.correction(name, partner)
                if made is not None:
                    self.reported.append(None)
                    return made
                break
            draw -= share
        return self.report(partner)

    def correction(self, name: str, partner: str) -> dict[str, Any] | None:
        if name in ("acknowledge_action", "dispute_action"):
            item = self.to_answer[partner].take(
                lambda r: not r.retracted and partner not in r.answered)
            if item is None:
                return None
            item.answered.add(partner)
            if name == "acknowledge_action":
                return {"command": name, "action_id": item.action_id, "partner": partner,
                        "note": f"{partner} confirms its part as reported."}
            return {"command": name, "action_id": item.action_id, "partner": partner,
                    "reason": f"{partner} did not take part on these dates; see its own "
                              "record of the meeting."}
        item = self.own[partner].take(lambda r: not r.retracted)
        if item is None:
            return None
        if name == "retract_action":
            item.retracted = True
            return {"command": name, "action_id": item.action_id,
                    "reason": "Recorded in error: a duplicate of an action already reported."}
        item.corrections += 1
        return {"command": name, "action_id": item.action_id, "changes": self.changes(item),
                "reason": "Corrected after checking the mission report."}

    def changes(self, item: Recorded) -> dict[str, Any]:
        """An amendment: new dates (as the demo's), or a corrected summary and themes."""
        note = f"(correction {item.corrections})"
        if self.rng.random() < 0.4:
            start = min(item.start + timedelta(days=self.rng.randint(1, 20)),
                        LAST_DAY - timedelta(days=3))
            item.start = start
            return {"occurred_on": {"start": start.isoformat(),
                                    "end": (start + timedelta(days=2)).isoformat()},
                    "summary": f"Dates corrected from the travel records {note}."}
        return {"summary": f"Summary corrected from the mission report {note}.",
                "themes": self.rng.sample(THEMES[:9], self.rng.randint(1, 3))}

    def revision(self, agreement: AgreementInfo | None = None) -> dict[str, Any]:
        """An admin's revision of the agreement's summary, in force from a day after its
        signature (the compliance read model re-derives the agreement's obligations)."""
        agreement = agreement or self.rng.choice(self.agreements)
        self.revisions += 1
        days = (LAST_DAY - agreement.signed_on).days
        revised_on = agreement.signed_on + timedelta(days=self.rng.randrange(30, days))
        return {"command": "revise_agreement", "agreement": agreement.reference,
                "changes": {"summary": f"Revised text (revision {self.revisions})."},
                "reason": "The parties reviewed the agreement and updated its summary.",
                "revised_on": revised_on.isoformat()}

    def report(self, partner: str) -> dict[str, Any]:
        rng = self.rng
        mine = [a for a in self.agreements if partner in a.parties]
        agreement = rng.choice(mine) if mine and rng.random() < 0.75 else None
        if agreement is not None:
            partners = list(agreement.parties)
            partners.remove(partner)
            partners.insert(0, partner)
        else:
            others = [p for p in PARTNERS if p != partner]
            partners = [partner, *rng.sample(others, rng.choice((1, 1, 1, 2)))]
        commitment, kind = self.commitment_and_kind(agreement, partner)
        first = max(agreement.signed_on if agreement else FIRST_DAY, FIRST_DAY)
        start = first + timedelta(days=rng.randrange((LAST_DAY - first).days - 5))
        occurred: Any = start.isoformat()
        if rng.random() < 0.3:
            occurred = {"start": start.isoformat(),
                        "end": (start + timedelta(days=rng.randint(1, 4))).isoformat()}
        countries = self.countries(partners, kind)
        mechanisms = self.mechanisms(partners, countries)
        themes = rng.sample(THEMES, rng.randint(1, 3))
        venue = CAPITALS[countries[0]] if countries else PARTNERS[partner][2]
        topic = themes[0].replace("-", " ")
        what = KINDS[kind].format(topic=topic, year=start.year)
        where = f" in {', '.join(CAPITALS[c] for c in countries)}" if countries else ""
        summary = (f"{PARTNERS[partner][0]} {what} with {', '.join(partners[1:])}{where}"
                   f" ({start:%B %Y}).")
        document: dict[str, Any] = {
            "command": "report_action", "reporting_partner": partner, "partners": partners,
            "kind": kind, "occurred_on": occurred, "countries": countries,
            "themes": themes, "mechanisms": mechanisms, "venue": venue, "summary": summary,
            "provenance": "illustrative"}
        if agreement is not None:
            document["agreement"] = agreement.reference
            if commitment is not None:
                document["commitment"] = commitment
        self.reported.append(Recorded("", partner, tuple(partners), start))
        return document

    def commitment_and_kind(self, agreement: AgreementInfo | None,
                            partner: str) -> tuple[str | None, str]:
        if agreement is not None and self.rng.random() < 0.6:
            fulfils = [c for c in agreement.commitments if partner in c[1]]
            if fulfils:
                commitment, _, kinds = self.rng.choice(fulfils)
                usable = [k for k in kinds if k in KINDS]
                if usable:
                    return commitment, self.rng.choice(usable)
        kinds = [k for k in KINDS if k not in ("coordination_group_meeting",
                                               "inter_agency_meeting")]
        return None, self.rng.choice(kinds)

    def countries(self, partners: Sequence[str], kind: str) -> list[str]:
        pool = allowed_countries(partners)
        if not pool or (kind in ("work_plan_shared", "information_shared")
                        and self.rng.random() < 0.5):
            return []
        return self.rng.sample(pool, min(len(pool), self.rng.choice((1, 1, 1, 2, 3))))

    def mechanisms(self, partners: Sequence[str], countries: Sequence[str]) -> list[str]:
        chosen = self.rng.sample(MECHANISMS, self.rng.choice((0, 1, 1, 2)))
        if "coe" in partners and self.rng.random() < 0.5:
            body = self.rng.choice(COE_BODIES)
            if body != "ecthr" or set(countries) <= ECHR_PARTIES:
                chosen.append(body)
        return chosen
