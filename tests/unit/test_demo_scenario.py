"""The demo scenario is traceable to the seeds: every quoted sentence is really there."""

from pathlib import Path

import pytest

from registry.demo import scenario

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"


@pytest.fixture(scope="module")
def seeds() -> dict[str, str]:
    if not SEEDS.is_dir():
        pytest.skip(f"seed documents not found at {SEEDS}")
    return {p.name: p.read_text("utf-8") for p in SEEDS.glob("*.txt")}


def commands(name: str) -> list[dict]:
    return [c for c in scenario()["commands"] if c["command"] == name]


def test_every_commitment_quotes_its_seed_sentence(seeds):
    for agreement in commands("register_agreement"):
        for commitment in agreement["commitments"]:
            source = commitment["source"]
            assert source["quote"] in seeds[source["document"]], commitment["id"]


def test_documented_actions_quote_the_seed(seeds):
    documented = [a for a in commands("report_action") if a["provenance"] == "documented"]
    assert len(documented) >= 4
    for action in documented:
        document, quote = action["references"][:2]
        assert quote in seeds[document], action["summary"]


def test_every_action_says_whether_it_is_documented_or_illustrative():
    assert {a["provenance"] for a in commands("report_action")} == {"documented", "illustrative"}


def test_the_2007_programme_revision_is_not_recorded():
    assert not [c for c in scenario()["commands"] if c["command"] == "revise_agreement"]
