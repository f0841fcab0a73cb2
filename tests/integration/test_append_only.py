"""The event table refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) at the SQL level,
whoever connects to the database."""

import pytest

from tests.conftest import action, run


def raw_sql(services, statement: str) -> None:
    sql = services.app.event_table.sql
    table = sql.table(services.app.event_table.name)
    with sql.transaction() as cursor:
        cursor.execute(statement.format(table=table))


@pytest.mark.parametrize("statement", [
    "UPDATE {table} SET topic = 'forged'",
    "DELETE FROM {table}",
])
def test_recorded_events_cannot_be_changed_or_deleted(partners, statement):
    run(partners, action())
    before = partners.app.event_table.count()
    with pytest.raises(Exception, match="append-only"):
        raw_sql(partners, statement)
    assert partners.app.event_table.count() == before


def test_truncate_is_refused_on_postgres(postgres_url):
    from registry.bootstrap import open_registry
    from tests.conftest import partner

    services = open_registry(postgres_url)
    try:
        run(services, partner("ohchr"))
        with pytest.raises(Exception, match="append-only"):
            raw_sql(services, "TRUNCATE {table}")
        assert services.app.event_table.count() == 1
    finally:
        services.close()


def test_appending_still_works(partners):
    run(partners, action())
    run(partners, action())
    assert partners.app.event_table.count() == 5
