"""Controlled vocabularies of the core registry. Plugins contribute more (see hookspecs)."""

from __future__ import annotations

from dataclasses import dataclass

AGREEMENT_KINDS = frozenset(
    {"joint_declaration", "joint_work_programme", "memorandum_of_understanding",
     "exchange_of_letters"}
)

CADENCES = frozenset({"once", "annual", "per_session", "regular", "on_request"})

ACTION_KINDS = frozenset(
    {
        "information_shared", "work_plan_shared", "outputs_transmitted", "meeting_attended",
        "expert_meeting_held", "joint_mission", "joint_activity", "statement_delivered",
        "submission_to_mechanism", "consultation", "training", "focal_point_designated",
        "agreement_signed", "agreement_revised",
    }
)

# UN human rights mechanisms (domain-facts.md): the ten treaty bodies, the UPR and the
# Special Procedures. Regional mechanisms come from partner plugins.
MECHANISMS = frozenset(
    {"cerd", "ccpr", "cescr", "cedaw", "cat", "spt", "crc", "cmw", "crpd", "ced", "upr",
     "special-procedures", "crpd-cosp"}
)

# Themes named in the seed documents.
THEMES = frozenset(
    {"democracy", "rule-of-law", "human-rights", "non-discrimination", "gender-equality",
     "human-rights-education", "combating-trafficking", "legislation-review",
     "freedom-of-expression", "rights-of-persons-with-disabilities"}
)

PARTNER_KINDS = frozenset({"un_entity", "regional_organization", "other"})

# ISO 3166-1 alpha-2 (249 assigned codes) plus XK, the user-assigned code for Kosovo.
COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW XK
    """.split()  # noqa: SIM905 (a list of 250 quoted codes reads worse)
)


@dataclass(frozen=True)
class Vocabulary:
    """The words in force: the core's plus whatever active plugins contribute."""

    action_kinds: frozenset[str] = ACTION_KINDS
    mechanisms: frozenset[str] = MECHANISMS
    themes: frozenset[str] = THEMES
    countries: frozenset[str] = COUNTRIES

    def extended(
        self,
        *,
        action_kinds: frozenset[str] = frozenset(),
        mechanisms: frozenset[str] = frozenset(),
        themes: frozenset[str] = frozenset(),
    ) -> Vocabulary:
        return Vocabulary(
            action_kinds=self.action_kinds | action_kinds,
            mechanisms=self.mechanisms | mechanisms,
            themes=self.themes | themes,
            countries=self.countries,
        )


CORE_VOCABULARY = Vocabulary()
