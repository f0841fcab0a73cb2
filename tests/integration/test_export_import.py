"""Export → import reproduces identical events and identical read models."""

import io
import json

import pytest

from registry import io as registry_io
from registry.bootstrap import open_registry
from registry.domain import ValidationFailed
from registry.io import ImportFailed, export_events, import_events, iter_notifications
from tests.conftest import TODAY, action, agreement, run


def exported(services) -> str:
    out = io.StringIO()
    export_events(services.app.recorder, out)
    return out.getvalue()


@pytest.fixture
def source(partners):
    run(partners, agreement())
    receipt = run(partners, action(), by="partner:ohchr", key="k")
    run(partners, {"command": "amend_action", "action_id": receipt.aggregate_id,
                   "changes": {"summary": "Ünïcode ✓ summary"}, "reason": "typo"})
    partners.follower.catch_up()
    return partners


def raw(services):
    return [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in iter_notifications(services.app.recorder)]


def test_round_trip_reproduces_events_and_projections(source, shared_store_url):
    text = exported(source)
    target = open_registry(shared_store_url, today=lambda: TODAY)
    try:
        report = import_events(target.app.recorder, target.app.mapper, text.splitlines())
        target.follower.catch_up()
        assert report.events == len(raw(source)) and not report.renumbered
        assert raw(target) == raw(source)
        assert target.follower.digests() == source.follower.digests()
        assert exported(target) == text
    finally:
        target.close()


def test_chunks_by_default_are_larger_on_sqlite_than_on_postgresql(source, shared_store_url,
                                                                   monkeypatch):
    """SQLite imports in chunks of IMPORT_CHUNK (one commit and checkpoint each);
    PostgreSQL keeps PAGE (a much larger statement hung in psycopg's pipeline)."""
    monkeypatch.setattr(registry_io, "IMPORT_CHUNK", 2)
    monkeypatch.setattr(registry_io, "PAGE", 3)
    lines = exported(source).splitlines()
    target = open_registry(shared_store_url, today=lambda: TODAY)
    try:
        chunks: list[int] = []
        report = import_events(target.app.recorder, target.app.mapper, lines,
                               progress=chunks.append)
        size = 3 if target.queries.sql.postgres else 2
        assert report.events == len(lines) - 1 and sum(chunks) == report.events
        assert set(chunks[:-1]) == {size} and 0 < chunks[-1] <= size
        assert raw(target) == raw(source)
    finally:
        target.close()


def test_an_import_into_sqlite_raises_the_page_cache_of_its_connection(source, tmp_path):
    target = open_registry(f"sqlite:///{tmp_path / 'target.db'}", today=lambda: TODAY)
    try:
        import_events(target.app.recorder, target.app.mapper, exported(source).splitlines())
        with target.app.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA cache_size")
            assert cursor.fetchone()[0] == -registry_io.IMPORT_CACHE_KIB
    finally:
        target.close()


def test_import_refuses_a_store_that_is_not_empty(source):
    with pytest.raises(ValidationFailed) as caught:
        import_events(source.app.recorder, source.app.mapper, exported(source).splitlines())
    assert caught.value.problems[0].rule == "import.empty-store"


def test_a_bad_line_names_its_number_and_records_nothing_of_its_chunk(source, tmp_path):
    lines = exported(source).splitlines()
    record = json.loads(lines[5])
    record["state"] = record["state"].replace("{", "[", 1)  # corrupt one event's payload
    lines[5] = json.dumps(record)
    target = open_registry(f"sqlite:///{tmp_path / 'target.db'}", today=lambda: TODAY)
    try:
        with pytest.raises(ImportFailed) as caught:
            import_events(target.app.recorder, target.app.mapper, lines, chunk_size=3)
        assert caught.value.line == 6
        # lines 2-4 formed the first chunk and were recorded; 5-7 were not
        assert caught.value.recorded == 3
        assert target.app.event_table.count() == 3
    finally:
        target.close()


def test_lines_that_are_not_events_are_refused(tmp_path):
    target = open_registry(f"sqlite:///{tmp_path / 'target.db'}", today=lambda: TODAY)
    try:
        for line, message in (("not json", "not JSON"), ('{"position": 1}', "missing"),
                              ('[1, 2]', "JSON object")):
            with pytest.raises(ImportFailed, match=message):
                header = '{"format": "coopreg-events/1"}'
                import_events(target.app.recorder, target.app.mapper, [header, line])
        assert target.app.event_table.count() == 0
    finally:
        target.close()
