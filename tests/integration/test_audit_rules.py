"""`audit rules`: recorded history re-judged under today's plugins; replay never re-rejects."""

from registry.audit import audit_rules
from registry.bootstrap import open_registry
from registry.testing import TODAY, host_with, record, registry_with
from tests.unit.test_plugin_host import Acme


def test_history_recorded_without_a_rule_is_reported_under_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    before = registry_with(url=url)  # no plugins: a Sunday action passes silently
    receipt = record(before, occurred_on="2014-06-15")
    record(before, occurred_on="2014-06-16")
    before.close()

    today = open_registry(url, rules=host_with(("acme", Acme())), today=lambda: TODAY)
    today.follower.catch_up()
    drifts = list(audit_rules(today))
    assert [(d.action_id, d.now_found, d.no_longer) for d in drifts] == [
        (receipt.aggregate_id, [("acme.no-weekends", "warning", "occurred_on")], [])]
    assert drifts[0].rules_then == []
    # replay does not re-judge: the read models still show what was recorded
    today.follower.rebuild()
    assert today.queries.action(receipt.aggregate_id)["findings"] == []
    today.close()


def test_nothing_is_reported_when_the_rules_have_not_changed():
    registry = registry_with(("acme", Acme()))
    record(registry, occurred_on="2014-06-15")
    assert list(audit_rules(registry)) == []
