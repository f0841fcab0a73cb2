"""The `coopreg` command as a user runs it: a real process, a real SQLite file."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from registry.projections import PROJECTIONS


def coopreg(*args: str, db: Path, stdin: str | None = None, check: bool = True):
    result = subprocess.run([sys.executable, "-m", "registry", "--db", f"sqlite:///{db}", *args],
                            input=stdin, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"coopreg {args} failed: {result.stderr}")
    return result


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("cli") / "demo.db"
    out = coopreg("demo", db=db).stdout
    assert "4 partners, 2 agreements, 40 actions" in out
    return db


def test_demo_twice_records_nothing_new(demo_db):
    before = coopreg("status", db=demo_db).stdout
    coopreg("demo", db=demo_db)
    assert coopreg("status", db=demo_db).stdout == before


def test_status_shows_events_position_and_lag(demo_db):
    out = coopreg("status", db=demo_db).stdout
    assert "events          " in out and "lag actions     0" in out


def test_replay_equals_the_live_read_models(demo_db):
    out = coopreg("replay", db=demo_db).stdout
    assert out.count("equal to the live read model") == len(PROJECTIONS)


def test_export_then_import_reproduces_the_registry(demo_db, tmp_path):
    exported = coopreg("export", db=demo_db).stdout
    dump = tmp_path / "events.ndjson"
    dump.write_text(exported)
    target = tmp_path / "copy.db"
    assert "imported" in coopreg("import", str(dump), db=target).stdout
    assert coopreg("export", db=target).stdout == exported
    assert coopreg("replay", db=target).stdout == coopreg("replay", db=demo_db).stdout


def test_posting_an_action_and_a_bad_one(demo_db):
    good = {"reporting_partner": "osce-odihr", "partners": ["osce-odihr", "ohchr"],
            "kind": "joint_activity", "occurred_on": "2021-05-04", "countries": ["AL"],
            "summary": "Joint training"}
    receipt = json.loads(coopreg("post", "--as", "partner:osce-odihr", db=demo_db,
                                 stdin=json.dumps(good)).stdout)
    assert receipt["aggregate"] == "action" and receipt["version"] == 1
    bad = coopreg("post", db=demo_db, stdin=json.dumps({**good, "countries": ["ZZ"]}),
                  check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "coopreg: error: countries[0]: 'ZZ' is not a known ISO 3166-1 alpha-2 country code "
        "[country.iso3166]"]


def test_a_bad_line_in_ndjson_is_named_and_its_chunk_not_recorded(demo_db):
    before = coopreg("status", db=demo_db).stdout
    line = {"reporting_partner": "ohchr", "partners": ["ohchr", "un-desa"],
            "kind": "consultation", "occurred_on": "2019-02-02", "summary": "Consultation"}
    text = "\n".join([json.dumps(line), json.dumps({**line, "kind": "picnic"})])
    result = coopreg("post", db=demo_db, stdin=text, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("coopreg: error: line 2: kind:")
    assert "Traceback" not in result.stderr
    assert coopreg("status", db=demo_db).stdout == before


@pytest.mark.parametrize(("args", "message"), [
    (("post",), "no command given"),
    (("import", "/nonexistent/file"), "No such file"),
])
def test_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    result = coopreg(*args, db=tmp_path / "x.db", stdin="", check=False)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_an_unusable_database_url_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "registry", "--db", "mysql://x/y", "status"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "unsupported database URL" in result.stderr and "Traceback" not in result.stderr


def test_compliance_shows_the_overdue_revision_at_the_end_of_2009(demo_db):
    out = coopreg("compliance", "desa-ohchr-crpd-2007", "--on", "2009-12-31",
                  db=demo_db).stdout
    assert out.startswith("desa-ohchr-crpd-2007 on 2009-12-31:")
    review = [line for line in out.splitlines() if " review " in line]
    assert review and review[0].split()[0] == "overdue"


def test_compliance_of_an_unknown_agreement_is_a_clear_error(demo_db):
    result = coopreg("compliance", "no-such-thing", db=demo_db, check=False)
    assert result.returncode == 1 and "no agreement no-such-thing" in result.stderr


def test_audit_rules_reports_no_drift_under_the_same_plugins(demo_db):
    out = coopreg("audit", "rules", db=demo_db).stdout
    assert out.strip().endswith("0 recorded events would be judged differently today")


def test_audit_rules_reports_history_judged_without_a_plugin(demo_db):
    result = subprocess.run([sys.executable, "-m", "registry", "--db", f"sqlite:///{demo_db}",
                             "--disable-plugin", "desa", "audit", "rules"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  - warning desa.avoid-duplication on kind (found then, not today)" in lines
    assert "  + error action.kind on kind (found today, not then)" in lines  # inter_agency_meeting
    assert lines[-1] == "3 recorded events would be judged differently today"
