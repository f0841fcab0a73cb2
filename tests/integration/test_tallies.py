"""The aggregates (who did what where; activity per theme and mechanism) are answered from
running tallies. At every position of a random history of reports, amendments, retractions
and acknowledgements, followed in batches of random size, they must equal a count over
the action versions live at that position."""

import random

import pytest

from registry.domain.errors import ValidationFailed
from registry.projections import actions
from tests.conftest import action, agreement, partner, run

COUNTRIES = ["UA", "GE", "AM", "MD", "AL"]
THEMES = ["human-rights", "democracy", "rule-of-law"]
MECHANISMS = ["upr", "crpd", "ccpr"]
KINDS = ["joint_activity", "consultation", "joint_mission"]


def some(rng: random.Random, values: list[str]) -> list[str]:
    return rng.sample(values, rng.randint(1, 2))


def report(rng: random.Random) -> dict:
    return action(partners=rng.choice([["ohchr"], ["ohchr", "osce-odihr"]]),
                  kind=rng.choice(KINDS), countries=some(rng, COUNTRIES),
                  themes=some(rng, THEMES), mechanisms=some(rng, MECHANISMS),
                  occurred_on=f"2015-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}")


def change(rng: random.Random) -> dict:
    field = rng.choice(["countries", "themes", "mechanisms", "kind", "partners"])
    value = {"countries": lambda: some(rng, COUNTRIES), "themes": lambda: some(rng, THEMES),
             "mechanisms": lambda: some(rng, MECHANISMS), "kind": lambda: rng.choice(KINDS),
             "partners": lambda: rng.choice([["ohchr"], ["ohchr", "osce-odihr"]])}[field]()
    return {field: value}


def attempt(services, data: dict, by: str):
    """Run a command; a refused one (it changed nothing, say) records nothing."""
    try:
        return run(services, data, by=by)
    except ValidationFailed:
        return None


@pytest.fixture(params=["groups looked up", "groups read ahead"])
def history(request, registry, monkeypatch):
    if request.param == "groups read ahead":  # as a large batch does: every group at once
        monkeypatch.setattr(actions, "READ_ALL_GROUPS_FROM", 1)
    rng = random.Random(20141)
    for pid in ("ohchr", "osce-odihr"):
        run(registry, partner(pid))
    run(registry, agreement())
    live: list[str] = []
    for _ in range(45):
        roll = rng.random()
        if roll < 0.45 or not live:
            receipt = attempt(registry, report(rng), "partner:ohchr")
            live += [receipt.aggregate_id] if receipt else []
        elif roll < 0.75:
            attempt(registry, {"command": "amend_action", "action_id": rng.choice(live),
                               "changes": change(rng), "reason": "corrected"}, "partner:ohchr")
        elif roll < 0.87:
            attempt(registry, {"command": "retract_action", "reason": "did not happen",
                               "action_id": live.pop(rng.randrange(len(live)))},
                    "partner:ohchr")
        else:
            attempt(registry, {"command": "acknowledge_action", "action_id": rng.choice(live),
                               "partner": "osce-odihr", "note": f"seen {rng.random()}"},
                    "partner:osce-odihr")
        if rng.random() < 0.3:
            registry.follower.catch_up()  # the tallies carry across batches
    registry.follower.catch_up()
    return registry


def counted_where(services, as_of: int) -> list[dict]:
    sql = services.queries.sql
    rows = sql.all(
        f"SELECT v.action_id, v.kind, v.facts FROM {sql.table('action_versions')} v "
        "WHERE v.valid_from <= ? AND (v.valid_to IS NULL OR v.valid_to > ?) "
        "AND v.status <> 'retracted'", (as_of, as_of))
    found: dict[str, dict[str, dict[str, int]]] = {}
    for row in rows:
        facts = services.queries.action(row["action_id"], as_of=as_of)
        for country in facts["countries"]:
            for who in set(facts["partners"]):
                kinds = found.setdefault(country, {}).setdefault(who, {})
                kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    return [{"country": c, "partners": [{"partner": p, "kinds": dict(sorted(k.items()))}
                                         for p, k in sorted(ps.items())]}
            for c, ps in sorted(found.items())]


def counted_activity(services, tag: str, as_of: int) -> list[dict]:
    sql = services.queries.sql
    rows = sql.all(
        f"SELECT t.value AS value, COUNT(*) AS n, MIN(v.occurred_start) AS first, "
        f"MAX(v.occurred_end) AS last FROM {sql.table('action_tags')} t "
        f"JOIN {sql.table('action_versions')} v ON v.action_id = t.action_id "
        "AND v.version = t.version WHERE t.tag = ? AND v.valid_from <= ? "
        "AND (v.valid_to IS NULL OR v.valid_to > ?) AND v.status <> 'retracted' "
        "GROUP BY t.value ORDER BY t.value", (tag, as_of, as_of))
    return [{tag: r["value"], "actions": int(r["n"]), "first_occurred": r["first"],
             "last_occurred": r["last"]} for r in rows]


def test_the_aggregates_equal_a_count_of_live_versions_at_every_position(history):
    queries = history.queries
    head = queries.position()
    for as_of in range(head + 1):
        assert queries.who_did_what_where(as_of=as_of) == counted_where(history, as_of)
        for tag in ("theme", "mechanism"):
            assert queries.activity(tag, as_of=as_of) == counted_activity(history, tag, as_of)
    assert queries.who_did_what_where() == counted_where(history, head)
    assert queries.activity("theme") == counted_activity(history, "theme", head)
    for country in COUNTRIES:
        assert queries.who_did_what_where(country=country) == [
            c for c in counted_where(history, head) if c["country"] == country]


def test_a_rebuild_gives_the_same_tallies(history):
    before = history.follower.digests()["actions"]
    history.follower.rebuild()
    assert history.follower.digests()["actions"] == before
