"""The plugin contract: every hook a partner plugin may implement.

Plugins are modules (or objects) whose functions are marked with `hookimpl` and named like
the specs below; they are found through the `coopreg.plugins` entry-point group, built-in
and third-party alike. A plugin implements only the hooks it needs. Hooks receive plain
data and read-only views, never the store, and must not keep state between calls.

Two kinds of hook:
- **collecting** hooks (the default): every active plugin's result counts; the host
  concatenates them in plugin order.
- **first-result** hooks (`firstresult=True`): the first plugin that returns something other
  than None decides; the registry's core answer (`registry.compliance`) runs last.

A hook that raises, or returns data of the wrong shape, refuses the command with an error
naming the plugin and the hook; nothing is recorded.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pluggy

from registry.domain import ActionFacts, Commitment
from registry.rules import (
    AgreementSnapshot,
    Evidence,
    Finding,
    Obligation,
    PartnerDeclaration,
    RegistryView,
    RuleInfo,
    VocabularyContribution,
)

PROJECT = "coopreg"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def coopreg_partners() -> list[PartnerDeclaration]:
    """Declare the partners this plugin speaks for, with their dated facts.

    When: at start-up, and for `coopreg plugins`. Collecting: all results count.
    Returns: a list of `PartnerDeclaration` (partner id, name, and `DatedFact`s such as the
    participation of a State from one date until another, with the fact's source).
    """


@hookspec
def coopreg_vocabulary() -> VocabularyContribution:
    """Contribute words to the controlled vocabularies (action kinds, mechanisms, themes).

    When: at start-up. Collecting: the words of every plugin are added to the core's.
    Returns: a `VocabularyContribution` mapping each new word to what it means.
    """


@hookspec
def coopreg_rules() -> list[RuleInfo]:
    """Declare the rules this plugin applies, each with its id, summary and source.

    When: at start-up; listed by `coopreg plugins` and recorded with every event the
    plugin evaluated, so an auditor can tell which rules were in force. Collecting.
    Returns: a list of `RuleInfo`. Every finding the plugin returns must use one of these ids.
    """


@hookspec
def coopreg_validate_action(action: ActionFacts, view: RegistryView) -> list[Finding]:
    """Judge an action (reported, or as it would be after an amendment) before it is
    recorded. Evaluate facts as of `action.occurred_on`, never as a timeless list.

    When: on every report and amendment, after the domain invariants passed.
    Collecting: findings of all plugins count. Return [] when the action does not concern
    the plugin. Returns: `Finding`s (the host stamps plugin name and version).
    """


@hookspec
def coopreg_validate_agreement(agreement: dict[str, Any], view: RegistryView) -> list[Finding]:
    """Judge an agreement before it is registered (`agreement` is its JSON payload).

    When: on registration. Collecting. Returns: `Finding`s.
    """


@hookspec
def coopreg_related_actions(action: ActionFacts, view: RegistryView) -> list[Finding]:
    """Flag recorded actions related to this one, e.g. possible duplication.

    Ask `view.similar_actions(action)` for the candidates (live actions of the same kind,
    overlapping in time, reported by another partner, including earlier commands of the
    same batch) only once the action concerns the plugin: the look-up costs a query. It
    gives the earliest 20 or so; `reported_by=partner` gives that partner's earliest
    (filtering the first 20 of all partners would miss some in a busy registry).
    When: with validation. Collecting. Returns: `Finding`s whose `related` names the
    related action ids (usually warnings: duplication is flagged, not refused).
    """


@hookspec(firstresult=True)
def coopreg_obligations(agreement: AgreementSnapshot,
                        commitment: Commitment) -> list[Obligation] | None:
    """Derive the schedule of a commitment: one `Obligation` per period it falls due.

    When: as the compliance read model processes an agreement's registration, new
    commitment, revision or termination. First result: return None to leave the
    commitment to another plugin or the core (which schedules by cadence).
    Must be deterministic: the same agreement always gives the same schedule.
    """


@hookspec(firstresult=True)
def coopreg_is_evidence(obligation: Obligation, action: ActionFacts) -> bool | None:
    """Say whether an action fulfils an obligation.

    When: as the compliance read model processes actions and new obligations; it asks
    only about obligations whose period (start..end) the action's dates overlap, of the
    action's kind and reporter among the responsible, so an obligation's period is the
    window in which evidence can count.
    First result: None defers to the next plugin, then the core (kind among the
    commitment's `fulfilled_by`, reported by a responsible party, a counterpart involved,
    within the period, and naming no other agreement or commitment).
    """


@hookspec(firstresult=True)
def coopreg_obligation_status(obligation: Obligation, evidence: list[Evidence],
                              as_of: date) -> str | None:
    """Judge an obligation as of a date: one of `met`, `due`, `overdue`, `not_applicable`.

    `evidence` holds only actions that had occurred by `as_of`. When: on every compliance
    query. First result: None defers to the core (met with evidence; otherwise overdue
    after `due_on`, else due; `on_request` commitments are not_applicable until requested).
    """
