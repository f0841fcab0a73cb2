"""Time travel with the `coopreg` command, as an auditor runs it: queries --as-of a position
or a recorded time, `replay --until --into`, and `audit diff`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import coopreg

AMENDED = "00000000-0000-4000-8000-000000000001"  # the demo's amended action
RETRACTED = "00000000-0000-4000-8000-000000000002"  # the demo's retracted action


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("time-travel") / "demo.db"
    coopreg("demo", db=db)
    return db


def positions(db: Path) -> dict[str, int]:
    """Where the demo amended and retracted its two corrected actions, and its last event."""
    last = coopreg("status", db=db).stdout.split("last position")[1].split()[0]
    changes = json.loads(coopreg("audit", "diff", "0", last, "--json", db=db).stdout)
    found = {e["type"]: e["position"] for e in changes["events"]
             if e["type"] in ("Action.Amended", "Action.Retracted")}
    return {**found, "last": int(last)}


def test_an_as_of_time_answers_as_the_position_reached_by_then(demo):
    amended = positions(demo)["Action.Amended"]
    diff = json.loads(coopreg("audit", "diff", str(amended - 1), str(amended), "--json",
                              db=demo).stdout)
    recorded = diff["from"]["recorded_at"]
    query = ("actions", "--occurred-from", "2010-01-01", "--occurred-to", "2010-12-31",
             "--json")
    by_time = json.loads(coopreg(*query, "--as-of", recorded, db=demo).stdout)
    by_position = json.loads(coopreg(*query, "--as-of", str(amended - 1), db=demo).stdout)
    assert by_time == by_position
    assert {a["id"]: a["version"] for a in by_time}[AMENDED] == 1
    now = json.loads(coopreg(*query, db=demo).stdout)
    assert {a["id"]: a["version"] for a in now}[AMENDED] == 2


def test_status_and_compliance_as_of_a_past_point(demo):
    status = coopreg("status", "--as-of", "20", db=demo).stdout
    assert "as of           position 20" in status and "events          20" in status
    assert "as of           position 0 (the empty registry)" in coopreg(
        "status", "--as-of", "1999-01-01", db=demo).stdout
    report = coopreg("compliance", "desa-ohchr-crpd-2007", "--on", "2009-12-31", "--as-of",
                     "20", db=demo).stdout
    assert report.startswith("desa-ohchr-crpd-2007 on 2009-12-31 as of position 20:")


def test_an_unreadable_as_of_is_refused(demo):
    result = coopreg("actions", "--as-of", "last tuesday", db=demo, check=False)
    assert result.returncode == 2 and "--as-of" in result.stderr
    assert "ISO 8601 date" in result.stderr


def test_replay_until_a_point_into_a_separate_database(demo, tmp_path):
    retracted = positions(demo)["Action.Retracted"]
    until = retracted - 1
    past = tmp_path / "past.db"
    out = coopreg("replay", "--until", str(until), "--into", f"sqlite:///{past}",
                  db=demo).stdout
    assert f"replayed {until} events up to position {until}" in out
    assert out.count(f"equal to this registry as of position {until}") == 7, out
    assert "DIFFERENT" not in out
    assert json.loads(coopreg("actions", "--limit", "500", "--json", db=past).stdout) == (
        json.loads(coopreg("actions", "--limit", "500", "--json", "--as-of", str(until),
                           db=demo).stdout))
    again = coopreg("replay", "--until", str(until), "--into", f"sqlite:///{past}", db=demo,
                    check=False)
    assert again.returncode == 1 and "[replay.empty-target]" in again.stderr
    itself = coopreg("replay", "--until", "3", "--into", f"sqlite:///{demo}", db=demo,
                     check=False)
    assert itself.returncode == 1 and "[replay.same-database]" in itself.stderr
    alone = coopreg("replay", "--until", "3", db=demo, check=False)
    assert alone.returncode == 1 and "--until needs --into" in alone.stderr


def test_audit_diff_names_the_amendment_changed_and_the_retraction_retracted(demo):
    found = positions(demo)
    start = min(found["Action.Amended"], found["Action.Retracted"]) - 1
    changes = json.loads(coopreg("audit", "diff", str(start), str(found["last"]), "--json",
                                 db=demo).stdout)
    actions = {c["subject"]["action_id"]: c["change"] for c in changes["read_models"]["actions"]}
    assert actions == {AMENDED: "changed", RETRACTED: "retracted"}
    text = coopreg("audit", "diff", str(start), str(found["last"]), db=demo).stdout
    assert f"~ changed   action_versions {AMENDED}" in text
    assert f"- retracted action_versions {RETRACTED}" in text
    assert "actions: 0 added, 1 changed, 1 retracted" in text
    backwards = coopreg("audit", "diff", "5", "4", db=demo, check=False)
    assert backwards.returncode == 1 and "[audit.order]" in backwards.stderr
