"""Every bad field is named with the rule it broke, before the domain sees the command."""

import pytest

from registry.commands import ReportAction
from registry.domain import ValidationFailed
from registry.schemas import load_command
from tests.conftest import action, agreement


def problems(data) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        load_command(data)
    return {p.field: p.rule for p in caught.value.problems}


def test_an_action_parses_into_facts():
    command = load_command(action(occurred_on={"start": "2014-06-10", "end": "2014-06-12"}))
    assert isinstance(command, ReportAction)
    assert str(command.facts.occurred_on.end) == "2014-06-12"
    assert command.facts.counterparts == ("osce-odihr",)


def test_the_command_is_inferred_when_not_named():
    data = action()
    del data["command"]
    assert isinstance(load_command(data), ReportAction)


def test_missing_and_malformed_fields_are_named():
    data = action(occurred_on="12/06/2014", partners="ohchr", surprise=1)
    del data["summary"]
    assert problems(data) == {"occurred_on": "schema.invalid", "partners": "schema.type",
                              "surprise": "schema.unknown", "summary": "schema.required"}


def test_nested_fields_get_paths():
    data = agreement(commitments=[{"id": "Bad Id", "text": "t", "responsible": ["ohchr"],
                                   "cadence": "weekly"}])
    assert problems(data) == {"commitments[0].id": "schema.slug",
                              "commitments[0].cadence": "schema.one-of"}


def test_an_unknown_command_is_named():
    assert problems({"command": "delete_everything"}) == {"command": "schema.one-of"}


def test_a_command_is_an_object():
    assert problems(["not", "an", "object"]) == {"body": "schema.type"}


def test_fingerprints_tell_commands_apart():
    assert load_command(action()).fingerprint() == load_command(action()).fingerprint()
    assert load_command(action()).fingerprint() != load_command(action(summary="x")).fingerprint()


def outcome(data) -> object:
    try:
        return load_command(data)
    except ValidationFailed as error:
        return sorted((p.field, p.rule) for p in error.problems)


def test_one_schema_instance_loads_from_many_threads_as_from_one():
    """`load_command` shares a schema per command between threads (the API's): valid and
    invalid commands, loaded at once, answer what each answers alone."""
    from concurrent.futures import ThreadPoolExecutor

    commands = [action(countries=[country], summary=f"Workshop {n}")
                for n, country in enumerate(["UA", "FR", "CH", "GE"] * 25)]
    commands += [action(occurred_on="12/06/2014", partners="ohchr", surprise=n)
                 for n in range(50)]
    commands += [agreement(reference=f"agreement-{n}") for n in range(50)]
    alone = [outcome(data) for data in commands]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            assert list(pool.map(outcome, commands)) == alone
