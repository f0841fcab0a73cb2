"""Fixtures and helpers for testing the registry's rules, shipped with the package and
installed as a pytest plugin: a plugin author's tests get `coopreg_registry` for free.

    def test_my_rule(coopreg_registry):
        registry = coopreg_registry("osce", ("mine", my_plugin_module))
        findings = findings_of(registry, countries=["JP"], partners=["ohchr", "osce-odihr"])
        assert_finding(findings, "osce.participating-state", severity="error")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pytest

from registry.bootstrap import Services, open_registry
from registry.commands import Receipt
from registry.plugins import ENTRY_POINT_GROUP, PluginHost
from registry.rules import Finding
from registry.schemas import load_command

TODAY = date(2026, 11, 1)

PARTNERS = [
    ("ohchr", "Office of the UN High Commissioner for Human Rights", "un_entity", "Geneva"),
    ("un-desa", "UN Department of Economic and Social Affairs", "un_entity", "New York"),
    ("osce-odihr", "OSCE Office for Democratic Institutions and Human Rights",
     "regional_organization", "Warsaw"),
    ("coe", "Council of Europe", "regional_organization", "Strasbourg"),
]

PluginSpec = str | tuple[str, Any] | ModuleType


def host_with(*plugins: PluginSpec) -> PluginHost:
    """A plugin host with exactly these plugins: installed ones by entry-point name,
    others as (name, module-or-object) or a module."""
    installed = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    chosen = []
    for spec in plugins:
        if isinstance(spec, str):
            ep = installed[spec]
            chosen.append((spec, ep.load(), ep.dist.version if ep.dist else "0"))
        elif isinstance(spec, tuple):
            name, plugin = spec
            chosen.append((name, plugin, getattr(plugin, "__version__", "0")))
        else:
            chosen.append((spec.__name__.rpartition(".")[2], spec,
                           getattr(spec, "__version__", "0")))
    return PluginHost(chosen)


def registry_with(*plugins: PluginSpec, today: date = TODAY, url: str = "sqlite:///:memory:",
                  partners: list[tuple[str, str, str, str]] = PARTNERS) -> Services:
    """A registry with chosen plugins and the four partners registered."""
    services = open_registry(url, rules=host_with(*plugins), today=lambda: today)
    for partner_id, name, kind, seat in partners:
        services.app.execute(load_command({"command": "register_partner",
                                           "partner_id": partner_id, "name": name,
                                           "kind": kind, "seat": seat}), by="admin:test")
    return services


@pytest.fixture
def coopreg_registry() -> Iterator[Callable[..., Services]]:
    """Factory: `coopreg_registry("osce", "desa", today=date(...))`; closed after the test."""
    made: list[Services] = []

    def make(*plugins: PluginSpec, **kwargs: Any) -> Services:
        made.append(registry_with(*plugins, **kwargs))
        return made[-1]

    yield make
    for services in made:
        services.close()


def action(**overrides: Any) -> dict[str, Any]:
    """A valid action payload (OHCHR with ODIHR, Ukraine, 2014-06-12), to override."""
    data: dict[str, Any] = {
        "command": "report_action", "reporting_partner": "ohchr",
        "partners": ["ohchr", "osce-odihr"], "kind": "joint_activity",
        "occurred_on": "2014-06-12", "countries": ["UA"], "themes": ["human-rights"],
        "mechanisms": ["upr"], "summary": "Joint activity"}
    data.update(overrides)
    return data


def findings_of(services: Services, **overrides: Any) -> list[Finding]:
    """Every finding the active plugins return for this action (errors and warnings),
    without recording it."""
    facts = load_command(action(**overrides)).facts  # type: ignore[attr-defined]
    view = services.app.rule_view()
    return list(services.app.rules.evaluate_action(facts, view).findings)


def record(services: Services, by: str | None = None, **overrides: Any) -> Receipt:
    """Record an action (as its reporting partner) and bring the read models up to date."""
    data = action(**overrides)
    receipt = services.app.execute(load_command(data),
                                   by=by or f"partner:{data['reporting_partner']}")
    services.follower.catch_up()
    return receipt


def assert_finding(findings: list[Finding], rule: str, *, severity: str | None = None,
                   field: str | None = None) -> Finding:
    matching = [f for f in findings if f.rule == rule
                and (severity is None or f.severity == severity)
                and (field is None or f.field == field)]
    assert matching, (f"expected a finding {rule} (severity={severity}, field={field}); "
                      f"got {[(f.rule, f.severity, f.field) for f in findings]}")
    return matching[0]


def assert_no_finding(findings: list[Finding], rule: str) -> None:
    unexpected = [f for f in findings if f.rule == rule]
    assert not unexpected, f"unexpected finding {rule}: {[f.message for f in unexpected]}"
