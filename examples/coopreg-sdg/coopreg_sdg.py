"""A third-party Cooperation Registry plugin: SDG targets as themes.

It adds the Sustainable Development Goal targets that fit the registry's themes (gender
equality 5.x, reduced inequalities 10.x, peace, justice and strong institutions 16.x) and
suggests a target when an action names a theme an SDG target covers but no target."""

from __future__ import annotations

from registry.domain import ActionFacts
from registry.hookspecs import hookimpl
from registry.rules import Finding, RuleInfo, VocabularyContribution

__version__ = "0.3.0"

SOURCE = "UN Statistics Division, SDG indicators framework (A/RES/71/313)"

TARGETS = {
    "sdg-5.1": "End all forms of discrimination against all women and girls everywhere",
    "sdg-5.5": "Women's full participation and equal opportunities for leadership",
    "sdg-10.2": "Empower and promote the social, economic and political inclusion of all",
    "sdg-10.3": "Ensure equal opportunity and reduce inequalities of outcome",
    "sdg-16.3": "Promote the rule of law and ensure equal access to justice for all",
    "sdg-16.7": "Ensure responsive, inclusive, participatory and representative decision-making",
    "sdg-16.10": "Ensure public access to information and protect fundamental freedoms",
}

# Which targets cover which of the registry's themes.
COVERS = {
    "gender-equality": ("sdg-5.1", "sdg-5.5"),
    "non-discrimination": ("sdg-10.2", "sdg-10.3", "sdg-5.1"),
    "rights-of-persons-with-disabilities": ("sdg-10.2",),
    "rule-of-law": ("sdg-16.3",),
    "democracy": ("sdg-16.7",),
    "freedom-of-expression": ("sdg-16.10",),
}

SUGGEST = RuleInfo("sdg.suggest-target", "An action on a theme an SDG target covers should "
                   "name the target, so SDG reporting can find it", SOURCE, "warning")


@hookimpl
def coopreg_vocabulary() -> VocabularyContribution:
    return VocabularyContribution(themes=dict(TARGETS))


@hookimpl
def coopreg_rules() -> list[RuleInfo]:
    return [SUGGEST]


@hookimpl
def coopreg_validate_action(action: ActionFacts) -> list[Finding]:
    """Suggest SDG targets for themes they cover (SDG framework, A/RES/71/313)."""
    named = {t for t in action.themes if t in TARGETS}
    findings = []
    for index, theme in enumerate(action.themes):
        targets = COVERS.get(theme, ())
        if targets and not named & set(targets):
            findings.append(Finding(
                SUGGEST.id, "warning", f"theme {theme!r} is covered by SDG "
                f"{', '.join(t[4:] for t in targets)}; add one of {', '.join(targets)}",
                f"themes[{index}]", SOURCE))
    return findings
