"""A read of several statements sees one state of the read models (`Sql.snapshot`), even
while another thread records and applies events: the position a query names and the rows
it answers agree."""

from __future__ import annotations

import threading
from collections.abc import Callable

from registry.bootstrap import Services, open_registry
from registry.projections import ActionFilter
from tests.conftest import TODAY, action, partner, run


def in_another_thread(work: Callable[[], object]) -> None:
    """As the API's projection worker does, beside the request reading."""
    failed: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as error:  # re-raised in the test's thread
            failed.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and not failed, failed


def record_and_apply(services: Services, country: str) -> Callable[[], object]:
    return lambda: (run(services, action(countries=[country])), services.follower.catch_up())


def test_a_snapshot_keeps_its_view_while_the_read_models_advance(shared_store_url):
    with open_registry(shared_store_url, today=lambda: TODAY) as services:
        for pid in ("ohchr", "osce-odihr"):
            run(services, partner(pid))
        run(services, action(countries=["UA"]))
        services.follower.catch_up()
        queries = services.queries
        with queries.sql.snapshot():
            seen = (queries.position(), queries.summary(), queries.actions().items)
            in_another_thread(record_and_apply(services, "FR"))
            with queries.sql.snapshot():  # a nested one joins it
                assert (queries.position(), queries.summary(), queries.actions().items) == seen
        assert queries.position() > seen[0]
        assert queries.summary()["actions"] == seen[1]["actions"] + 1
        assert len(queries.actions(ActionFilter(country="FR")).items) == 1
