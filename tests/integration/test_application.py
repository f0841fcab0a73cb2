"""The Registry application on every store: in memory, SQLite file and PostgreSQL."""

from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from registry.bootstrap import open_registry
from registry.domain import Conflict, IdempotencyMismatch, NotFound, ValidationFailed
from registry.schemas import load_command
from tests.conftest import TODAY, action, agreement, partner, run


def test_recording_an_action_answers_its_version_and_position(partners):
    receipt = run(partners, action(), by="partner:ohchr")
    assert receipt.aggregate == "action" and receipt.version == 1
    assert receipt.position == partners.app.recorder.max_notification_id()
    recorded = partners.app.action(UUID(receipt.aggregate_id))
    assert recorded.facts.countries == ("UA",)


def test_a_reporter_may_choose_the_action_id_once(partners):
    chosen = "00000000-0000-4000-8000-000000000001"
    receipt = run(partners, action(action_id=chosen), by="partner:ohchr")
    assert receipt.aggregate_id == chosen
    with pytest.raises(ValidationFailed) as caught:
        run(partners, action(action_id=chosen), by="partner:ohchr")
    assert caught.value.problems[0].rule == "action.unique"


def test_every_event_records_who_and_when(partners):
    receipt = run(partners, action(), by="partner:ohchr")
    event = partners.app.events.get(UUID(receipt.aggregate_id)).__next__()
    assert event.recorded_by == "partner:ohchr"
    assert event.timestamp.tzinfo is not None  # recorded time, UTC
    assert str(event.facts["occurred_on"]["start"]) == "2014-06-12"  # kept apart


def test_a_failing_command_leaves_the_store_exactly_as_it_was(partners):
    before = partners.app.recorder.max_notification_id()
    with pytest.raises(ValidationFailed):
        run(partners, action(countries=["QQ"]))
    assert partners.app.recorder.max_notification_id() == before


def test_registering_a_partner_twice_is_refused(partners):
    with pytest.raises(ValidationFailed) as caught:
        run(partners, partner("ohchr"))
    assert caught.value.problems[0].rule == "partner.unique"


def test_an_action_fulfilling_a_commitment_must_name_a_real_one(partners):
    run(partners, agreement())
    run(partners, action(agreement="ohchr-odihr-2014", commitment="implement-recommendations"))
    with pytest.raises(ValidationFailed) as caught:
        run(partners, action(agreement="ohchr-odihr-2014", commitment="nope"))
    assert caught.value.problems[0].rule == "commitment.known"


def test_an_agreement_with_an_unregistered_party_is_refused(partners):
    with pytest.raises(ValidationFailed) as caught:
        run(partners, agreement(parties=["ohchr", "coe"]))
    assert {p.field for p in caught.value.problems} == {"parties[1]"}


class TestIdempotency:
    def test_a_retry_with_the_same_key_answers_the_first_receipt(self, partners):
        first = run(partners, action(), by="partner:ohchr", key="k-1")
        head = partners.app.recorder.max_notification_id()
        again = run(partners, action(), by="partner:ohchr", key="k-1")
        assert again == first
        assert partners.app.recorder.max_notification_id() == head

    def test_the_same_key_with_another_payload_is_an_error(self, partners):
        run(partners, action(), by="partner:ohchr", key="k-1")
        with pytest.raises(IdempotencyMismatch):
            run(partners, action(summary="something else"), by="partner:ohchr", key="k-1")

    def test_keys_belong_to_their_principal(self, partners):
        a = run(partners, action(), by="partner:ohchr", key="k-1")
        b = run(partners, action(reporting_partner="osce-odihr"), by="partner:osce-odihr",
                key="k-1")
        assert a.aggregate_id != b.aggregate_id


class TestOptimisticConcurrency:
    def test_a_stale_expected_version_is_a_conflict(self, partners):
        receipt = run(partners, action())
        amend = {"command": "amend_action", "action_id": receipt.aggregate_id,
                 "changes": {"summary": "better"}, "reason": "clarity", "expected_version": 1}
        assert run(partners, amend).version == 2
        with pytest.raises(Conflict):
            run(partners, {**amend, "changes": {"summary": "other"}})

    def test_two_writers_racing_on_one_version_one_wins(self, shared_store_url):
        first = open_registry(shared_store_url, today=lambda: TODAY)
        second = open_registry(shared_store_url, today=lambda: TODAY)
        try:
            for pid in ("ohchr", "osce-odihr"):
                run(first, partner(pid))
            receipt = run(first, action())
            amend = {"command": "amend_action", "action_id": receipt.aggregate_id,
                     "reason": "race", "expected_version": 1}
            # Both read version 1; the second to save must lose, however they interleave.
            mine = first.app.action(UUID(receipt.aggregate_id))
            theirs = second.app.action(UUID(receipt.aggregate_id))
            assert mine.version == theirs.version == 1
            run(first, {**amend, "changes": {"summary": "mine"}})
            with pytest.raises(Conflict):
                run(second, {**amend, "changes": {"summary": "theirs"}})
            theirs.amend(theirs.amended_facts({"summary": "theirs"}), "race", "x", {})
            with pytest.raises(IntegrityError):
                second.app.save(theirs)  # the store itself refuses the lost update
            assert second.app.action(UUID(receipt.aggregate_id)).facts.summary == "mine"
        finally:
            first.close()
            second.close()


class TestBatches:
    def test_a_batch_is_recorded_whole(self, registry):
        commands = [load_command(partner(p)) for p in ("ohchr", "osce-odihr")]
        commands.append(load_command(action()))
        receipts = registry.app.execute_batch(commands, by="admin:test")
        assert [r.aggregate for r in receipts] == ["partner", "partner", "action"]

    def test_a_failing_batch_records_nothing_and_names_the_command(self, registry):
        commands = [load_command(partner("ohchr")), load_command(action())]
        with pytest.raises(ValidationFailed) as caught:
            registry.app.execute_batch(commands, by="admin:test")
        assert caught.value.problems[0].field.startswith("[1].")
        assert not registry.app.recorder.max_notification_id()


def test_unknown_aggregates_are_not_found(partners):
    with pytest.raises(NotFound):
        partners.app.action(UUID(int=7))
    with pytest.raises(NotFound):
        run(partners, {"command": "retract_action", "action_id": str(UUID(int=7)),
                       "reason": "x"})


class TestAgreementReads:
    """An action is checked against an agreement read at most `agreement_read_ttl` ago;
    a refusal is never based on such a read."""

    NEW_COMMITMENT = {"command": "add_commitment", "agreement": "ohchr-odihr-2014",
                      "commitment": {"id": "share-plans", "text": "Share work plans",
                                     "responsible": ["ohchr"], "cadence": "annual",
                                     "fulfilled_by": ["work_plan_shared"]}}

    def test_an_action_may_cite_a_commitment_another_process_added_a_moment_ago(
            self, shared_store_url):
        first = open_registry(shared_store_url, today=lambda: TODAY)
        second = open_registry(shared_store_url, today=lambda: TODAY)
        try:
            for pid in ("ohchr", "osce-odihr"):
                run(first, partner(pid))
            run(first, agreement())
            run(first, action(agreement="ohchr-odihr-2014",
                              commitment="implement-recommendations"))  # read, and kept
            run(second, self.NEW_COMMITMENT)
            receipt = run(first, action(agreement="ohchr-odihr-2014", commitment="share-plans",
                                        kind="work_plan_shared"))
            assert receipt.version == 1
        finally:
            first.close()
            second.close()

    def test_a_recent_read_is_reused_until_it_is_too_old(self, partners, monkeypatch):
        run(partners, agreement())
        reads = []
        get = partners.app.repository.get
        monkeypatch.setattr(partners.app.repository, "get",
                            lambda *args, **kwargs: reads.append(args[0]) or get(*args, **kwargs))
        cites = action(agreement="ohchr-odihr-2014", commitment="implement-recommendations")
        run(partners, cites)
        run(partners, cites)
        assert len(reads) == 1, reads
        monkeypatch.setattr(partners.app, "agreement_read_ttl", 0.0)
        run(partners, cites)
        assert len(reads) == 2

    def test_this_process_sees_its_own_change_at_once(self, partners):
        run(partners, agreement())
        cites = action(agreement="ohchr-odihr-2014", commitment="share-plans",
                       kind="work_plan_shared")
        with pytest.raises(ValidationFailed):
            run(partners, cites)
        run(partners, self.NEW_COMMITMENT)
        assert run(partners, cites).version == 1
