"""An agreement binds two or more parties to commitments; its text is revised, never edited."""

from datetime import date

import pytest

from registry.domain import Agreement, Commitment, DueRule, ValidationFailed

PARTIES = ["un-desa", "ohchr"]


def commitment(cid="annual-work-plans", responsible=("un-desa", "ohchr"), counterparts=()):
    return Commitment(id=cid, text="Share work plans annually", responsible=tuple(responsible),
                      counterparts=tuple(counterparts), cadence="annual", due=DueRule(),
                      fulfilled_by=("work_plan_shared",))


def register(**overrides) -> Agreement:
    values = dict(reference="desa-ohchr-crpd-2007", kind="joint_work_programme",
                  title="Joint work programme", parties=PARTIES, signed_on=date(2007, 11, 9),
                  signed_at="New York",
                  signatories=[{"name": "Louise Arbour", "title": "High Commissioner",
                                "partner": "ohchr"}],
                  commitments=[commitment()], review_rule={"months_after_signature": 24},
                  summary="", provenance="documented", recorded_by="admin:test", evaluation={})
    values.update(overrides)
    return Agreement.register(**values)


def rules_raised(**overrides) -> set[str]:
    with pytest.raises(ValidationFailed) as caught:
        register(**overrides)
    return {p.rule for p in caught.value.problems}


def test_registering_an_agreement():
    agreement = register()
    assert agreement.parties == PARTIES
    assert agreement.commitment("annual-work-plans").cadence == "annual"
    assert agreement.text_version == 1
    assert agreement.id == Agreement.create_id("desa-ohchr-crpd-2007")


def test_an_agreement_needs_two_distinct_parties():
    assert "agreement.parties" in rules_raised(parties=["ohchr"])
    assert "agreement.parties" in rules_raised(parties=["ohchr", "ohchr"])


def test_a_commitment_may_only_name_parties():
    assert rules_raised(commitments=[commitment(responsible=("coe",))]) == {"commitment.party"}
    assert rules_raised(commitments=[commitment(counterparts=("coe",))]) == {"commitment.party"}


def test_commitment_ids_are_unique():
    assert rules_raised(commitments=[commitment(), commitment()]) == {"commitment.unique-id"}


def test_a_signatory_signs_for_a_party():
    bad = [{"name": "X", "title": "Y", "partner": "coe"}]
    assert rules_raised(signatories=bad) == {"signatory.party"}


def test_a_revision_is_a_new_text_version_with_a_reason():
    agreement = register()
    agreement.revise({"title": "Revised joint work programme"}, "two-year review",
                     date(2009, 11, 9), "admin:test", {})
    assert agreement.text_version == 2
    event = agreement.collect_events()[-1]
    assert type(event).__name__ == "Revised"
    assert event.reason == "two-year review"


def test_a_revision_changes_only_revisable_parts():
    with pytest.raises(ValidationFailed) as caught:
        register().revise({"parties": ["ohchr", "coe"]}, "swap", date(2009, 1, 1),
                          "admin:test", {})
    assert caught.value.problems[0].rule == "agreement.revisable"


def test_adding_a_commitment_that_names_a_non_party_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        register().add_commitment(commitment("x", responsible=("coe",)), "admin:test", {})
    assert caught.value.problems[0].field == "commitment.responsible"


def test_a_terminated_agreement_cannot_be_revised():
    agreement = register()
    agreement.terminate(date(2010, 1, 1), "superseded", "admin:test", {})
    with pytest.raises(ValidationFailed) as caught:
        agreement.revise({"title": "x"}, "late", date(2011, 1, 1), "admin:test", {})
    assert caught.value.problems[0].rule == "agreement.terminated"


def test_a_revision_cannot_precede_the_signature():
    with pytest.raises(ValidationFailed) as caught:
        register().revise({"title": "x"}, "early", date(2007, 1, 1), "admin:test", {})
    assert caught.value.problems[0].rule == "agreement.revised-before-signature"


def test_termination_cannot_precede_signature():
    with pytest.raises(ValidationFailed) as caught:
        register().terminate(date(2007, 1, 1), "oops", "admin:test", {})
    assert caught.value.problems[0].rule == "agreement.terminated-before-signature"
