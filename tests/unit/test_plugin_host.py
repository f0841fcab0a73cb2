"""The plugin host: how plugins are found, checked, called and held to their contract."""

import pytest

from registry.hookspecs import hookimpl
from registry.plugins import PluginError, PluginHost, Selection
from registry.rules import Finding, RuleInfo
from registry.schemas import load_command
from registry.testing import action, findings_of, host_with, registry_with

RULE = RuleInfo("acme.no-weekends", "Actions do not happen on Sundays", "acme handbook",
                "warning")


class Acme:
    """A well-behaved third-party plugin: one warning rule."""

    __version__ = "2.1.0"

    @hookimpl
    def coopreg_rules(self):
        return [RULE, RuleInfo("acme.no-antarctica", "Not in AQ", "acme handbook")]

    @hookimpl
    def coopreg_validate_action(self, action):
        found = []
        if action.occurred_on.start.weekday() == 6:
            found.append(Finding("acme.no-weekends", "warning", "a Sunday", "occurred_on",
                                 "acme handbook"))
        if "AQ" in action.countries:
            found.append(Finding("acme.no-antarctica", "error", "not in Antarctica",
                                 "countries", "acme handbook"))
        return found


def test_a_warning_is_recorded_with_the_event_and_shown_in_the_read_model():
    registry = registry_with(("acme", Acme()))
    receipt = registry.app.execute(load_command(action(occurred_on="2014-06-15")),
                                   by="partner:ohchr")  # a Sunday
    registry.follower.catch_up()
    shown = registry.queries.action(receipt.aggregate_id)
    assert [(f["rule"], f["plugin"], f["plugin_version"]) for f in shown["findings"]] == [
        ("acme.no-weekends", "acme", "2.1.0")]


def test_an_error_refuses_the_command_and_records_nothing():
    from registry.rules import RuleViolation

    registry = registry_with(("acme", Acme()))
    before = registry.app.recorder.max_notification_id()
    with pytest.raises(RuleViolation) as caught:
        registry.app.execute(load_command(action(countries=["AQ"])), by="partner:ohchr")
    assert caught.value.problems[0].rule == "acme.no-antarctica"
    assert caught.value.findings[0].plugin == "acme"
    assert registry.app.recorder.max_notification_id() == before


def test_every_event_names_the_plugins_versions_and_rules_that_judged_it():
    registry = registry_with(("acme", Acme()))
    receipt = registry.app.execute(load_command(action()), by="partner:ohchr")
    event = next(iter(registry.app.events.get(__import__("uuid").UUID(receipt.aggregate_id))))
    assert event.evaluation["rules"] == [
        {"plugin": "acme", "version": "2.1.0",
         "rules": ["acme.no-antarctica", "acme.no-weekends"]}]


class Raising:
    @hookimpl
    def coopreg_validate_action(self, action):
        raise KeyError("boom")


class Malformed:
    @hookimpl
    def coopreg_validate_action(self, action):
        return [{"rule": "x"}]


class Undeclared:
    @hookimpl
    def coopreg_validate_action(self, action):
        return [Finding("nobody.declared-this", "error", "m", "kind", "s")]


class BadSeverity:
    @hookimpl
    def coopreg_rules(self):
        return [RuleInfo("bad.severity", "s", "s", "fatal")]


@pytest.mark.parametrize(("plugin", "words"), [
    (Raising(), "raised KeyError"),
    (Malformed(), "a list holding dict"),
    (Undeclared(), "nobody.declared-this"),
])
def test_a_misbehaving_plugin_is_named_with_its_hook_and_nothing_is_recorded(plugin, words):
    registry = registry_with(("broken", plugin))
    before = registry.app.recorder.max_notification_id()
    with pytest.raises(PluginError) as caught:
        registry.app.execute(load_command(action()), by="partner:ohchr")
    message = str(caught.value)
    assert "plugin 'broken', hook coopreg_validate_action" in message and words in message
    assert registry.app.recorder.max_notification_id() == before


def test_a_bad_declaration_fails_at_start_up():
    with pytest.raises(PluginError, match=r"plugin 'bad', hook coopreg_rules.*fatal"):
        host_with(("bad", BadSeverity()))


class Misspelt:
    @hookimpl
    def coopreg_validate_actoin(self, action):
        return []


def test_a_misspelt_hook_fails_at_start_up_naming_the_plugin():
    with pytest.raises(PluginError, match=r"plugin 'typo'.*coopreg_validate_actoin"):
        host_with(("typo", Misspelt()))


def test_selection_allows_only_or_disables(monkeypatch):
    assert Selection(only=("osce",)).allows("osce")
    assert not Selection(only=("osce",)).allows("coe")
    assert not Selection(disabled=("coe",)).allows("coe")
    monkeypatch.setenv("COOPREG_PLUGINS", "osce, desa")
    monkeypatch.setenv("COOPREG_DISABLE_PLUGINS", "desa")
    selection = Selection.from_env()
    assert (selection.allows("osce"), selection.allows("desa"), selection.allows("coe")) == (
        True, False, False)


def test_a_host_without_plugins_judges_nothing():
    registry = registry_with()
    assert findings_of(registry, countries=["AQ"]) == []
    assert PluginHost([]).describe() == []
