"""The plugin host: finds plugins by entry point, checks them at start-up, calls their
hooks one plugin at a time (so every failure names the plugin and the hook), and checks
what they return. It is the `Rulebook` the application consults."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from importlib.metadata import entry_points
from typing import Any

import pluggy

from registry import compliance, hookspecs
from registry.domain import ActionFacts, Commitment, RegistryError, Vocabulary
from registry.rules import (
    SEVERITIES,
    STATUSES,
    AgreementSnapshot,
    Evaluation,
    Evidence,
    Finding,
    Obligation,
    PartnerDeclaration,
    RegistryView,
    RuleInfo,
    VocabularyContribution,
)

ENTRY_POINT_GROUP = "coopreg.plugins"
CORE = "core"


class PluginError(RegistryError):
    """A plugin misbehaved: the command is refused and nothing is recorded."""

    kind = "plugin-error"

    def __init__(self, plugin: str, hook: str, problem: str) -> None:
        super().__init__(f"plugin {plugin!r}, hook {hook}: {problem}")
        self.plugin = plugin
        self.hook = hook


@dataclass(frozen=True)
class Selection:
    """Which plugins to load: only some (`only`), or all but some (`disabled`)."""

    only: tuple[str, ...] | None = None
    disabled: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, only: str | None = None, disabled: str | None = None) -> Selection:
        only = only if only is not None else os.environ.get("COOPREG_PLUGINS")
        disabled = disabled if disabled is not None else os.environ.get(
            "COOPREG_DISABLE_PLUGINS", "")
        return cls(only=_names(only) if only is not None else None,
                   disabled=_names(disabled))

    def allows(self, name: str) -> bool:
        return name not in self.disabled and (self.only is None or name in self.only)


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


@dataclass
class ActivePlugin:
    name: str
    version: str
    plugin: Any
    hooks: list[str] = field(default_factory=list)
    partners: list[PartnerDeclaration] = field(default_factory=list)
    rules: list[RuleInfo] = field(default_factory=list)
    vocabulary: VocabularyContribution = field(default_factory=VocabularyContribution)


@dataclass(frozen=True)
class HookImpl:
    """One plugin's implementation of a hook, with the arguments it asks for."""

    plugin: str
    function: Callable[..., Any]
    argnames: tuple[str, ...]


def discover(selection: Selection) -> list[tuple[str, Any, str]]:
    """(name, plugin object, version) of every selected `coopreg.plugins` entry point."""
    found = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if not selection.allows(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as error:  # a broken plugin must say so, by name, at start-up
            raise PluginError(ep.name, "(loading)", f"cannot be imported: {error}") from None
        version = ep.dist.version if ep.dist else getattr(plugin, "__version__", "0")
        found.append((ep.name, plugin, version))
    return found


class PluginHost:
    def __init__(self, plugins: Iterable[tuple[str, Any, str]]) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.manager.register(compliance, name=CORE)
        self.active: dict[str, ActivePlugin] = {}
        for name, plugin, version in plugins:
            try:
                self.manager.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as error:
                raise PluginError(name, "(registration)", str(error)) from None
            self.active[name] = ActivePlugin(name, version, plugin)
        self._check_pending()
        self._impls: dict[str, tuple[HookImpl, ...]] = {}  # the plugin set is fixed from here
        self._collect_declarations()
        self.vocabulary = self._vocabulary()
        self.rules_in_force = tuple(
            {"plugin": p.name, "version": p.version, "rules": sorted(r.id for r in p.rules)}
            for p in self.active.values() if p.rules)

    @classmethod
    def from_entry_points(cls, selection: Selection | None = None) -> PluginHost:
        return cls(discover(selection or Selection.from_env()))

    def _check_pending(self) -> None:
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as error:
            plugin = self.manager.get_name(error.plugin) or "?"
            raise PluginError(plugin, "(start-up)", f"{error}: a misspelt hook? the hooks "
                              f"are {', '.join(_spec_names())}") from None
        for active in self.active.values():
            active.hooks = sorted(h.name for h in self.manager.get_hookcallers(
                active.plugin) or [])

    # -- calling hooks, one plugin at a time --------------------------------------------

    def _implementations(self, hook: str) -> tuple[HookImpl, ...]:
        """A hook's implementations in pluggy's calling order, looked up once: hooks run for
        every command and every replayed action, and the plugins never change after start-up."""
        impls = self._impls.get(hook)
        if impls is None:
            caller = getattr(self.manager.hook, hook)
            impls = self._impls[hook] = tuple(
                HookImpl(impl.plugin_name, impl.function, tuple(impl.argnames))
                for impl in reversed(caller.get_hookimpls()))
        return impls

    def _call(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """(plugin name, result) of every implementation, in pluggy's calling order."""
        results = []
        for impl in self._implementations(hook):
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except RegistryError:
                raise
            except Exception as error:  # a plugin's bug refuses the command, by name
                raise PluginError(impl.plugin, hook,
                                  f"raised {type(error).__name__}: {error}") from None
            results.append((impl.plugin, result))
        return results

    def _first(self, hook: str, expected: type | tuple[type, ...], **kwargs: Any) -> Any:
        for impl in self._implementations(hook):
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as error:  # a plugin's bug, reported by name
                raise PluginError(impl.plugin, hook,
                                  f"raised {type(error).__name__}: {error}") from None
            if result is None:
                continue
            if not isinstance(result, expected):
                raise PluginError(impl.plugin, hook,
                                  f"returned {type(result).__name__}; expected {expected}")
            return result
        return None

    def _collect_declarations(self) -> None:
        for name, result in self._call("coopreg_partners"):
            self._plugin(name).partners = _list_of(result, PartnerDeclaration, name,
                                                   "coopreg_partners")
        for name, result in self._call("coopreg_rules"):
            rules = _list_of(result, RuleInfo, name, "coopreg_rules")
            for rule in rules:
                if rule.severity not in SEVERITIES:
                    raise PluginError(name, "coopreg_rules",
                                      f"rule {rule.id} has severity {rule.severity!r}")
            self._plugin(name).rules = rules
        for name, result in self._call("coopreg_vocabulary"):
            if not isinstance(result, VocabularyContribution):
                raise PluginError(name, "coopreg_vocabulary",
                                  f"returned {type(result).__name__}; expected "
                                  "VocabularyContribution")
            self._plugin(name).vocabulary = result

    def _plugin(self, name: str) -> ActivePlugin:
        found = self.active.get(name)
        if found is None:
            found = self.active[name] = ActivePlugin(name, "core", compliance)
        return found

    def _vocabulary(self) -> Vocabulary:
        vocabulary = Vocabulary()
        for plugin in self.active.values():
            words = plugin.vocabulary
            vocabulary = vocabulary.extended(action_kinds=frozenset(words.action_kinds),
                                             mechanisms=frozenset(words.mechanisms),
                                             themes=frozenset(words.themes))
        return vocabulary

    # -- the Rulebook ---------------------------------------------------------------

    def evaluate_action(self, facts: ActionFacts, view: RegistryView) -> Evaluation:
        findings = self._findings("coopreg_validate_action", action=facts, view=view)
        findings += self._findings("coopreg_related_actions", action=facts, view=view)
        return Evaluation(tuple(findings), self.rules_in_force)

    def evaluate_agreement(self, agreement: dict[str, Any], view: RegistryView) -> Evaluation:
        findings = self._findings("coopreg_validate_agreement", agreement=agreement, view=view)
        return Evaluation(tuple(findings), self.rules_in_force)

    def _findings(self, hook: str, **kwargs: Any) -> list[Finding]:
        found = []
        for name, result in self._call(hook, **kwargs):
            if not result and isinstance(result, list | tuple):
                continue  # nothing found: the usual answer, with nothing to check or stamp
            plugin = self._plugin(name)
            declared = {r.id for r in plugin.rules}
            for finding in _list_of(result, Finding, name, hook):
                if finding.rule not in declared:
                    raise PluginError(name, hook, f"finding names rule {finding.rule!r}, "
                                      "which the plugin does not declare in coopreg_rules")
                if finding.severity not in SEVERITIES:
                    raise PluginError(name, hook, f"severity {finding.severity!r} is not "
                                      "'error' or 'warning'")
                found.append(replace(finding, plugin=name, plugin_version=plugin.version))
        return found

    # -- compliance -----------------------------------------------------------------

    def obligations(self, agreement: AgreementSnapshot,
                    commitment: Commitment) -> list[Obligation]:
        result = self._first("coopreg_obligations", list, agreement=agreement,
                             commitment=commitment)
        return _list_of(result or [], Obligation, "?", "coopreg_obligations")

    def is_evidence(self, obligation: Obligation, action: ActionFacts) -> bool:
        return bool(self._first("coopreg_is_evidence", bool, obligation=obligation,
                                action=action))

    def obligation_status(self, obligation: Obligation, evidence: list[Evidence],
                          as_of: date) -> str:
        status = self._first("coopreg_obligation_status", str, obligation=obligation,
                             evidence=evidence, as_of=as_of)
        if status not in STATUSES:
            raise PluginError("?", "coopreg_obligation_status",
                              f"answered {status!r}; expected one of {', '.join(STATUSES)}")
        return status

    # -- listing ----------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        """Each active plugin with version, hooks, partners and rules (`coopreg plugins`)."""
        return [
            {"name": p.name, "version": p.version, "hooks": p.hooks,
             "partners": [d.partner_id for d in p.partners],
             "rules": [{"id": r.id, "severity": r.severity, "summary": r.summary,
                        "source": r.source} for r in p.rules],
             "vocabulary": {"action_kinds": sorted(p.vocabulary.action_kinds),
                            "mechanisms": sorted(p.vocabulary.mechanisms),
                            "themes": sorted(p.vocabulary.themes)}}
            for p in self.active.values() if p.name != CORE
        ]


def _list_of(result: Any, cls: type, plugin: str, hook: str) -> list[Any]:
    if not isinstance(result, list | tuple) or not all(isinstance(r, cls) for r in result):
        raise PluginError(plugin, hook, f"returned {_shape(result)}; expected a list of "
                          f"{cls.__name__}")
    return list(result)


def _shape(value: Any) -> str:
    if isinstance(value, list | tuple) and value:
        return f"a list holding {type(value[0]).__name__}"
    return type(value).__name__


def _spec_names() -> Sequence[str]:
    return sorted(n for n in dir(hookspecs) if n.startswith("coopreg_"))
