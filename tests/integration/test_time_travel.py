"""Time travel: what the registry showed at a past position or recorded time (transaction
time), separately from when actions occurred (valid time); replays into a separate
database as of a point; and what changed between two points."""

from __future__ import annotations

from datetime import UTC, date, datetime

import eventsourcing.domain
import pytest

from registry.bootstrap import Services, open_registry
from registry.domain import ValidationFailed
from registry.projections import ActionFilter, parse_moment
from registry.timetravel import diff, open_target, replay_into
from tests.conftest import TODAY, action, agreement, partner, planned_store, run

IN_2014 = ActionFilter(occurred_from=date(2014, 1, 1), occurred_to=date(2014, 12, 31))


class RecordingClock:
    """Stands in for the time eventsourcing stamps on every new event."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = datetime(2014, 1, 1, tzinfo=UTC)
        monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", lambda: self.now)

    def set(self, text: str) -> None:
        self.now = datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> RecordingClock:
    return RecordingClock(monkeypatch)


@pytest.fixture
def history(registry: Services, clock: RecordingClock) -> dict[str, str]:
    """A workshop in Ukraine (June 2014) recorded in July 2014 and moved to Moldova by an
    amendment recorded in March 2015; a consultation in Georgia (November 2014) recorded
    in December 2014 and retracted in June 2015; a visit in October 2014 first recorded in
    March 2015."""
    clock.set("2014-03-01T09:00:00")
    for pid in ("ohchr", "osce-odihr", "un-desa"):
        run(registry, partner(pid))
    run(registry, agreement())
    clock.set("2014-07-01T10:00:00")
    workshop = run(registry, action(summary="Workshop in Kyiv"), by="partner:ohchr")
    clock.set("2014-12-01T10:00:00")
    consultation = run(registry, action(reporting_partner="osce-odihr", kind="consultation",
                                        occurred_on="2014-11-20", countries=["GE"]),
                       by="partner:osce-odihr")
    clock.set("2015-03-01T10:00:00")
    run(registry, {"command": "amend_action", "action_id": workshop.aggregate_id,
                   "changes": {"countries": ["MD"]}, "reason": "it was held in Chisinau"},
        by="partner:ohchr")
    visit = run(registry, action(kind="joint_mission", occurred_on="2014-10-01",
                                 countries=["AM"], summary="Visit to Yerevan"),
                by="partner:ohchr")
    clock.set("2015-06-01T10:00:00")
    run(registry, {"command": "retract_action", "action_id": consultation.aggregate_id,
                   "reason": "it was a phone call"}, by="partner:osce-odihr")
    registry.follower.catch_up()
    return {"workshop": workshop.aggregate_id, "consultation": consultation.aggregate_id,
            "visit": visit.aggregate_id}


def shown(page) -> dict[str, tuple[str, ...]]:
    return {item["summary"]: (item["status"], *item["countries"]) for item in page.items}


def as_of(registry: Services, text: str) -> int:
    position = registry.queries.resolve(parse_moment(text))
    assert position is not None
    return position


# -- as of a recorded time ---------------------------------------------------------------


def test_actions_that_occurred_in_2014_as_the_registry_knew_them_on_2015_01_01(registry,
                                                                               history):
    then = registry.queries.actions(IN_2014, as_of=as_of(registry, "2015-01-01"))
    assert shown(then) == {"Workshop in Kyiv": ("reported", "UA"),
                           "Joint workshop on UPR follow-up": ("reported", "GE")}
    now = registry.queries.actions(IN_2014)
    assert shown(now) == {"Workshop in Kyiv": ("reported", "MD"),
                          "Joint workshop on UPR follow-up": ("retracted", "GE"),
                          "Visit to Yerevan": ("reported", "AM")}


def test_as_of_a_recorded_time_equals_as_of_the_position_reached_by_then(registry, history):
    position = as_of(registry, "2015-03-15T00:00:00Z")
    assert position == registry.queries.position_at(datetime(2015, 3, 15, tzinfo=UTC))
    q = registry.queries
    assert position < q.position()
    assert q.actions(as_of=position).items == q.actions(
        as_of=q.resolve(datetime(2015, 3, 15, tzinfo=UTC))).items
    by_time = q.action(history["consultation"], as_of=position)
    assert by_time is not None and by_time["status"] == "reported"
    assert by_time == q.action(history["consultation"], as_of=as_of(registry, str(position)))
    assert q.summary(as_of=position)["actions_by_status"] == {"reported": 3}


def test_a_time_before_the_first_event_shows_the_empty_registry(registry, history):
    position = as_of(registry, "2013-12-31")
    assert position == 0
    assert registry.queries.partners(as_of=position) == []
    assert registry.queries.actions(as_of=position).items == []
    assert registry.queries.agreement("ohchr-odihr-2014", as_of=position) is None
    assert registry.queries.counts(as_of=position) == {"partners": 0, "agreements": 0,
                                                       "actions": 0}


def test_a_date_means_the_end_of_that_day_in_utc(registry, clock):
    positions = []
    for pid, stamped in (("ohchr", "2015-01-01T22:00:00"),
                         ("un-desa", "2015-01-01T23:59:59.999999"),
                         ("osce-odihr", "2015-01-02T00:00:00")):
        clock.set(stamped)
        positions.append(run(registry, partner(pid)).position)
    registry.follower.catch_up()
    assert as_of(registry, "2015-01-01") == positions[1]
    assert as_of(registry, "2015-01-02T00:30:00+01:00") == positions[0]  # 23:30 UTC
    assert as_of(registry, "2015-01-02T00:00:00") == positions[2]  # no offset: UTC
    assert as_of(registry, "2014-12-31") == 0


def test_a_time_never_shows_an_event_stamped_after_it(registry, clock):
    """Two writers' clocks may interleave: an event stamped 10:05 stored before one stamped
    10:00. As of 10:02 the registry shows neither: the prefix of the log up to 10:02."""
    clock.set("2015-01-01T09:00:00")
    run(registry, partner("ohchr"))
    clock.set("2015-01-01T10:05:00")
    run(registry, partner("un-desa"))
    clock.set("2015-01-01T10:00:00")
    run(registry, partner("osce-odihr"))
    registry.follower.catch_up()
    assert [p["id"] for p in registry.queries.partners(
        as_of=as_of(registry, "2015-01-01T10:02:00"))] == ["ohchr"]
    assert len(registry.queries.partners(as_of=as_of(registry, "2015-01-01T10:05:00"))) == 3


def test_the_summary_as_of_each_position_counts_the_versions_current_then(registry, history):
    run(registry, {"command": "acknowledge_action", "action_id": history["workshop"],
                   "partner": "osce-odihr", "note": "we were there"}, by="partner:osce-odihr")
    run(registry, {"command": "dispute_action", "action_id": history["visit"],
                   "partner": "osce-odihr", "reason": "not with us"}, by="partner:osce-odihr")
    registry.follower.catch_up()
    sql = registry.queries.sql
    for position in range(registry.queries.position() + 1):
        rows = sql.all(f"SELECT status, confirmation FROM {sql.table('action_versions')} "
                       "WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
                       (position, position))
        summary = registry.queries.summary(as_of=position)
        assert summary["actions"] == len(rows)
        statuses = [r["status"] for r in rows]
        assert summary["actions_by_status"] == {s: statuses.count(s) for s in set(statuses)}
        live = [r["confirmation"] for r in rows if r["status"] != "retracted"]
        assert summary["actions_by_confirmation"] == {c: live.count(c) for c in set(live)}
    assert registry.queries.summary()["actions_by_confirmation"] == {
        "acknowledged": 1, "disputed": 1}


# -- compliance: valid time and transaction time together --------------------------------

PROGRAMME = {
    "command": "register_agreement", "reference": "desa-ohchr-2007",
    "kind": "joint_work_programme", "title": "Joint work programme",
    "parties": ["un-desa", "ohchr"], "signed_on": "2007-11-09", "signed_at": "New York",
    "commitments": [
        {"id": "ohchr-work-plan", "text": "OHCHR shares its work plan every year",
         "responsible": ["ohchr"], "counterparts": ["un-desa"], "cadence": "annual",
         "fulfilled_by": ["work_plan_shared"]}],
}


def work_plans(registry: Services, on: str, position: int | None = None) -> list:
    report = registry.queries.compliance("desa-ohchr-2007", on=date.fromisoformat(on),
                                         as_of=position)
    assert report is not None
    return [(o["period"], o["status"]) for o in report["obligations"]]


@pytest.fixture
def programme(registry: Services) -> Services:
    for pid in ("ohchr", "un-desa"):
        run(registry, partner(pid))
    run(registry, PROGRAMME)
    return registry


def test_compliance_as_of_an_earlier_position_differs_after_a_later_amendment(programme):
    plan = run(programme, action(reporting_partner="ohchr", partners=["ohchr", "un-desa"],
                                 kind="work_plan_shared", occurred_on="2008-03-01",
                                 countries=["CH"], mechanisms=[], themes=[]),
               by="partner:ohchr")
    run(programme, {"command": "amend_action", "action_id": plan.aggregate_id,
                    "changes": {"occurred_on": "2009-03-01"}, "reason": "wrong year"},
        by="partner:ohchr")
    programme.follower.catch_up()
    assert work_plans(programme, "2010-01-01", plan.position) == [
        ("2007-11-09", "met"), ("2008-11-09", "overdue"), ("2009-11-09", "due")]
    assert work_plans(programme, "2010-01-01") == [
        ("2007-11-09", "overdue"), ("2008-11-09", "met"), ("2009-11-09", "due")]
    report = programme.queries.compliance("desa-ohchr-2007", on=date(2010, 1, 1),
                                          as_of=plan.position)
    assert report is not None and report["as_of_position"] == plan.position


def test_compliance_before_the_agreement_was_recorded_is_none(programme):
    assert programme.queries.compliance("desa-ohchr-2007", on=date(2010, 1, 1),
                                        as_of=1) is None


def test_a_retraction_withdraws_evidence_only_from_then_on(programme):
    plan = run(programme, action(reporting_partner="ohchr", partners=["ohchr", "un-desa"],
                                 kind="work_plan_shared", occurred_on="2008-03-01",
                                 countries=["CH"], mechanisms=[], themes=[]),
               by="partner:ohchr")
    retraction = run(programme, {"command": "retract_action", "action_id": plan.aggregate_id,
                                 "reason": "a budget, not a work plan"}, by="partner:ohchr")
    programme.follower.catch_up()
    assert work_plans(programme, "2009-01-01", plan.position)[0] == ("2007-11-09", "met")
    assert work_plans(programme, "2009-01-01", retraction.position)[0] == (
        "2007-11-09", "overdue")


def test_a_store_built_before_compliance_was_versioned_rebuilds_it(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    services = open_registry(url, today=lambda: TODAY)
    for pid in ("ohchr", "un-desa"):
        run(services, partner(pid))
    run(services, PROGRAMME)
    services.follower.catch_up()
    live = work_plans(services, "2009-01-01")
    sql = services.queries.sql
    with sql.transaction() as cursor:  # the layout of earlier releases, still tracked
        for table in ("compliance_obligation_versions", "compliance_evidence_versions"):
            cursor.execute(f"DROP TABLE {table}")
        cursor.execute("CREATE TABLE compliance_obligations (reference TEXT)")
        cursor.execute("CREATE TABLE compliance_evidence (reference TEXT)")
    services.close()
    upgraded = open_registry(url, today=lambda: TODAY)
    try:
        assert not upgraded.queries.sql.has_tables(["compliance_obligations"])
        assert upgraded.follower.lag()["compliance"] > 0
        upgraded.follower.catch_up()
        assert work_plans(upgraded, "2009-01-01") == live
    finally:
        upgraded.close()


@pytest.mark.parametrize("earlier", [
    ["DROP TABLE action_tally_groups", "DROP TABLE action_tallies"],  # before the tallies
    ["ALTER TABLE action_tally_groups DROP COLUMN live"],  # before groups kept their count
    ["DROP TABLE action_tags", "CREATE TABLE action_tags (tag TEXT NOT NULL, value TEXT NOT "
     "NULL, occurred_start TEXT NOT NULL, action_id TEXT NOT NULL, version INTEGER NOT NULL, "
     "valid_from BIGINT NOT NULL, PRIMARY KEY (tag, value, occurred_start, action_id, "
     "version, valid_from))"],  # before tag rows had their version's kind and end
])
def test_a_store_built_with_an_earlier_actions_layout_rebuilds_the_actions(tmp_path, earlier):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    services = open_registry(url, today=lambda: TODAY)
    for pid in ("ohchr", "osce-odihr"):
        run(services, partner(pid))
    run(services, action(), by="partner:ohchr")
    services.follower.catch_up()
    live = services.follower.digests()["actions"], services.queries.activity("theme")
    with services.queries.sql.transaction() as cursor:
        for statement in earlier:
            cursor.execute(statement)
    services.close()
    upgraded = open_registry(url, today=lambda: TODAY)
    try:
        assert upgraded.follower.lag()["actions"] > 0
        upgraded.follower.catch_up()
        assert (upgraded.follower.digests()["actions"],
                upgraded.queries.activity("theme")) == live
    finally:
        upgraded.close()


# -- replay until a point, into a separate database ---------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'past.db'}"
    return request.getfixturevalue("new_postgres_url")()


def test_replay_until_a_point_equals_the_registry_as_of_that_point(registry, history,
                                                                    empty_url):
    point = as_of(registry, "2015-01-01")
    target = open_target(registry, empty_url)
    try:
        report = replay_into(registry, target, point)
        assert report.faithful, report.equal
        assert (report.events, target.queries.position()) == (point, point)
        q, past = registry.queries, target.queries
        assert past.actions(IN_2014).items == q.actions(IN_2014, as_of=point).items
        assert past.partners() == q.partners(as_of=point)
        assert past.agreements() == q.agreements(as_of=point)
        assert past.summary() == q.summary(as_of=point)
        assert past.compliance("ohchr-odihr-2014", on=date(2015, 1, 1)) == q.compliance(
            "ohchr-odihr-2014", on=date(2015, 1, 1), as_of=point)
        assert [n.id for n in target.app.recorder.select_notifications(1, 1000)] == list(
            range(1, point + 1))
    finally:
        target.close()


def test_replay_refuses_its_own_database_and_one_that_holds_events(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with open_registry(url) as source:
        run(source, partner("ohchr"))
        source.follower.catch_up()
        with pytest.raises(ValidationFailed) as same:
            open_target(source, f"sqlite:///{tmp_path}/./registry.db")
        assert same.value.problems[0].rule == "replay.same-database"
        other = f"sqlite:///{tmp_path / 'other.db'}"
        with open_registry(other) as busy:
            run(busy, partner("un-desa"))
        with pytest.raises(ValidationFailed) as full:
            open_target(source, other)
        assert full.value.problems[0].rule == "replay.empty-target"


# -- what changed between two points --------------------------------------------------------


def test_audit_diff_lists_an_amendment_as_changed_and_a_retraction_as_retracted(registry,
                                                                                history):
    changes = diff(registry, as_of(registry, "2015-01-01"), registry.queries.position())
    actions = {c.subject["action_id"]: c for c in changes.read_models["actions"]}
    assert actions[history["workshop"]].change == "changed"
    assert actions[history["workshop"]].after["event"] == "amended"
    assert actions[history["consultation"]].change == "retracted"
    assert actions[history["visit"]].change == "added"
    assert changes.counts("actions") == {"added": 1, "changed": 1, "retracted": 1}
    assert changes.counts("partners") == {"added": 0, "changed": 0, "retracted": 0}


def test_audit_diff_lists_the_events_recorded_in_between(registry, history):
    start, end = as_of(registry, "2015-01-01"), as_of(registry, "2015-03-31")
    changes = diff(registry, start, end)
    assert [(e.type, e.aggregate) for e in changes.events if e.type.startswith("Action")] == [
        ("Action.Amended", f"action {history['workshop']}"),
        ("Action.Reported", f"action {history['visit']}")]
    assert all(start < e.position <= end for e in changes.events)
    assert changes.events[0].recorded_at.startswith("2015-03-01T10:00:00")
    assert diff(registry, end, end).events == []


def test_audit_diff_names_withdrawn_evidence_as_retracted(programme):
    plan = run(programme, action(reporting_partner="ohchr", partners=["ohchr", "un-desa"],
                                 kind="work_plan_shared", occurred_on="2008-03-01",
                                 countries=["CH"], mechanisms=[], themes=[]),
               by="partner:ohchr")
    run(programme, {"command": "retract_action", "action_id": plan.aggregate_id,
                    "reason": "a budget, not a work plan"}, by="partner:ohchr")
    programme.follower.catch_up()
    evidence = [c for c in diff(programme, plan.position, programme.queries.position())
                .read_models["compliance"] if c.table == "compliance_evidence_versions"]
    assert [(c.change, c.subject["action_id"]) for c in evidence] == [
        ("retracted", plan.aggregate_id)]


def test_audit_diff_wants_its_points_in_order(registry, history):
    with pytest.raises(ValidationFailed) as error:
        diff(registry, 5, 4)
    assert error.value.problems[0].rule == "audit.order"


# -- no replay, no sort: as-of reads walk an index ------------------------------------------


def plans(services: Services, ask) -> list[str]:
    """SQLite's plan for each statement `ask` runs."""
    statements = []
    read = services.queries.sql.all

    def spy(statement, params=()):
        statements.append((statement, params))
        return read(statement, params)

    services.queries.sql.all = spy
    try:
        ask(services.queries)
    finally:
        services.queries.sql.all = read
    return [" / ".join(r["detail"] for r in read(f"EXPLAIN QUERY PLAN {s}", p))
            for s, p in statements]


@pytest.mark.parametrize(("ask", "index"), [
    (lambda q: q.actions(as_of=10**6), "INDEX action_versions_occurred"),
    (lambda q: q.actions(ActionFilter(country="UA"), as_of=10**6),
     "INDEX sqlite_autoindex_action_tags_1 (tag=? AND value=?)"),
    (lambda q: q.actions(IN_2014, as_of=10**6),
     "INDEX action_versions_occurred (occurred_start>? AND occurred_start<?)"),
    (lambda q: q.actions(ActionFilter(country="UA"), as_of=10**6,
                         cursor=q.actions(limit=1).next_cursor),
     "(tag=? AND value=? AND (occurred_start,action_id)>(?,?))"),
    (lambda q: q.actions(as_of=10), "INDEX action_versions_from (valid_from<?)"),
    (lambda q: q.position_at(datetime(2015, 1, 1, tzinfo=UTC)),
     "COVERING INDEX clock_time (registry_time<?)"),
])
def test_as_of_reads_walk_an_index(tmp_path, ask, index):
    with planned_store(tmp_path) as services:
        plan = plans(services, ask)[-1]
    assert index in plan, plan
    assert "SCAN" not in plan.replace("SCAN v USING INDEX action_versions_occurred", ""), plan
    if "valid_from<?" not in plan:  # as of an early position the few rows are sorted
        assert "TEMP B-TREE" not in plan, plan


def columns_read_before_the_version(services: Services, ask, columns: set[str]) -> set[str]:
    """Which of the tag rows' `columns` SQLite's program for the last statement `ask` runs
    compares before it first seeks the row's version: the columns a tag walk tests in its
    index, passing over the rows that fail without reading their version."""
    statements = []
    read = services.queries.sql.all
    services.queries.sql.all = lambda s, p=(): statements.append((s, p)) or read(s, p)
    try:
        ask(services.queries)
    finally:
        services.queries.sql.all = read
    statement, params = statements[-1]
    roots = {r["rootpage"]: r["tbl_name"] for r in read(
        "SELECT tbl_name, rootpage FROM sqlite_master WHERE tbl_name IN "
        "('action_tags', 'action_versions') AND (type = 'table' OR name LIKE 'sqlite_%')")}
    key = ["tag", "value", "occurred_start", "action_id", "version", "valid_from", "kind",
           "occurred_end"]  # the tag walk reads action_tags' primary key alone
    program = read(f"EXPLAIN {statement}", params)
    opened = {r["p1"]: roots.get(r["p2"]) for r in program if r["opcode"] == "OpenRead"}
    tested = set()
    for op in program:
        if opened.get(op["p1"]) == "action_versions" and op["opcode"] in (
                "SeekGE", "SeekRowid", "NotExists", "NotFound", "Found", "DeferredSeek"):
            break
        if op["opcode"] == "Column" and opened.get(op["p1"]) == "action_tags":
            tested.add(key[op["p2"]])
    return tested & columns


@pytest.mark.parametrize("as_of", [None, 10**6])
@pytest.mark.parametrize(("where", "columns"), [
    (ActionFilter(partner="ohchr", kind="joint_mission"), {"kind"}),
    (ActionFilter(country="UA", occurred_from=date(2014, 7, 1), occurred_to=date(2014, 12, 31)),
     {"occurred_end"}),
    (ActionFilter(theme="human-rights", kind="training", occurred_from=date(2014, 7, 1)),
     {"kind", "occurred_end"}),
])
def test_a_tag_walk_tests_kind_and_end_before_reading_the_version(tmp_path, as_of, where,
                                                                   columns):
    """A partner's rows of other kinds (eleven in twelve), and the rows begun within the
    longest period before an occurred range that ended before it (as many as were recorded
    in those days), are passed over in the tag's index: each version read is a random page
    of a table that outgrows the cache, and reading them made these pages twice as slow
    at 1M events as at 10k."""
    with planned_store(tmp_path) as services:
        tested = columns_read_before_the_version(
            services, lambda q: q.actions(where, as_of=as_of), columns)
    assert tested == columns


@pytest.mark.parametrize("as_of", [None, 10**6])
def test_a_tag_walk_on_postgresql_reads_each_version_by_key_before_any_analyze(
        postgres_url, as_of):
    """A store never analyzed looks empty to PostgreSQL's planner: left to itself it
    joined by scanning a kind's versions once per tag row (150 ms at 10k events)."""
    with open_registry(postgres_url, today=lambda: TODAY) as services:
        for pid in ("ohchr", "osce-odihr"):
            run(services, partner(pid))
        run(services, action(), by="partner:ohchr")
        services.follower.catch_up()
        sql = services.queries.sql
        statements = []
        read = sql.all
        sql.all = lambda statement, params=(): statements.append((statement, params)) or []
        services.queries.actions(ActionFilter(partner="ohchr", kind="joint_activity"),
                                 as_of=as_of)
        sql.all = read
        plan = "\n".join(row["QUERY PLAN"] for row in read(f"EXPLAIN {statements[-1][0]}",
                                                           statements[-1][1]))
    assert "action_versions_pkey" in plan, plan
    assert "action_tags_pkey" in plan, plan
    walk = plan[plan.index("action_tags_pkey"):].split("->")[0]  # its kind is in the index
    assert "Index Cond:" in walk and "kind = " in walk.split("Index Cond:")[1], plan
