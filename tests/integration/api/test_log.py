"""The transparency log over HTTP, checked the way an auditor would: with the published
public key and RFC 9162's verification algorithms, trusting nothing else the server says."""

from __future__ import annotations

import pytest

from api import create_app
from registry.ledger.merkle import root, verify_consistency, verify_inclusion
from registry.ledger.notes import VerifierKey, open_note


def leaves(api, upto: int) -> list[bytes]:
    """Leaf hashes of the first `upto` events, paged from /v1/events."""
    found: list[bytes] = []
    after = 0
    while len(found) < upto:
        page = api.ok(f"/v1/events?after={after}&limit=500", "auditor")["items"]
        found += [bytes.fromhex(e["leaf_hash"]) for e in page]
        after = page[-1]["position"]
    return found[:upto]


@pytest.fixture(scope="module")
def key(api) -> VerifierKey:
    published = api.ok("/v1/log/public-key", "anonymous")
    assert published["algorithm"] == "Ed25519"
    return VerifierKey.parse(published["vkey"])


def test_anyone_may_fetch_the_public_key_that_signs_checkpoints(api, key):
    published = api.ok("/v1/log/public-key", "anonymous")
    assert published["origin"] == key.name
    assert published["key_hash"] == key.key_hash.hex()
    assert published["pem"].startswith("-----BEGIN PUBLIC KEY-----")


def test_the_latest_checkpoint_is_signed_and_commits_to_every_event(api, key, demo_position):
    body = api.ok("/v1/log/checkpoint", "auditor")
    checkpoint = open_note(body["note"], key)
    assert checkpoint.size == body["size"] >= demo_position
    assert checkpoint.root.hex() == body["root_hash"]
    assert checkpoint.root == root(leaves(api, checkpoint.size))


def test_a_checkpoint_of_an_earlier_size_commits_to_that_prefix(api, key):
    body = api.ok("/v1/log/checkpoint?size=10", "auditor")
    checkpoint = open_note(body["note"], key)
    assert checkpoint.size == 10
    assert checkpoint.root == root(leaves(api, 10))
    again = api.ok("/v1/log/checkpoint?size=10", "auditor")
    assert again["note"] == body["note"], "a size is signed once, then served as stored"


def test_every_inclusion_proof_verifies_against_a_signed_root(api, key, demo_position):
    size = open_note(api.ok("/v1/log/checkpoint", "auditor")["note"], key).size
    all_leaves = leaves(api, size)
    for position in (1, 2, 17, demo_position // 2, size):
        proof = api.ok(f"/v1/log/proofs/inclusion?position={position}&size={size}", "auditor")
        assert proof["leaf_index"] == position - 1
        assert bytes.fromhex(proof["leaf_hash"]) == all_leaves[position - 1]
        assert open_note(proof["checkpoint"], key).root.hex() == proof["root_hash"]
        assert verify_inclusion(position - 1, size, all_leaves[position - 1],
                                [bytes.fromhex(h) for h in proof["audit_path"]],
                                bytes.fromhex(proof["root_hash"]))


def test_consistency_proofs_show_the_log_only_grew(api, key):
    small = open_note(api.ok("/v1/log/checkpoint?size=7", "auditor")["note"], key)
    api.report("ohchr")  # the log grows after the auditor saved the small checkpoint
    api.ctx.services.follower.catch_up()
    large = open_note(api.ok("/v1/log/checkpoint", "auditor")["note"], key)
    body = api.ok(f"/v1/log/proofs/consistency?first={small.size}&second={large.size}",
                  "auditor")
    assert verify_consistency(small.size, large.size, small.root, large.root,
                              [bytes.fromhex(h) for h in body["proof"]])
    forged = bytearray(small.root)
    forged[0] ^= 1
    assert not verify_consistency(small.size, large.size, bytes(forged), large.root,
                                  [bytes.fromhex(h) for h in body["proof"]])


@pytest.mark.parametrize(("query", "field", "rule"), [
    ("/v1/log/checkpoint?size=999999", "size", "log.size-recorded"),
    ("/v1/log/proofs/inclusion?position=5&size=3", "size", "log.size-covers-position"),
    ("/v1/log/proofs/inclusion?position=1&size=999999", "size", "log.size-recorded"),
    ("/v1/log/proofs/consistency?first=9&second=3", "first", "log.first-not-after-second"),
    ("/v1/log/proofs/consistency?first=1&second=999999", "second", "log.size-recorded"),
])
def test_impossible_proof_requests_name_the_field_and_the_rule(api, query, field, rule):
    body = api.problem(api.get(query, "auditor"), 422)
    assert body["errors"] == [{"field": field, "rule": rule, "message": body["errors"][0][
        "message"]}]


@pytest.mark.parametrize("query", [
    "/v1/log/proofs/inclusion", "/v1/log/proofs/inclusion?position=x",
    "/v1/log/proofs/consistency?first=0&second=1", "/v1/log/checkpoint?size=-1"])
def test_malformed_proof_arguments_are_refused(api, query):
    api.problem(api.get(query, "auditor"), 400)


def test_a_position_not_yet_recorded_has_no_inclusion_proof(api):
    api.problem(api.get("/v1/log/proofs/inclusion?position=999999", "auditor"), 404)


def test_without_a_signing_key_the_log_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.delenv("COOPREG_SIGNING_KEY", raising=False)
    app = create_app({"COOPREG_DB": f"sqlite:///{tmp_path / 'r.db'}", "COOPREG_FOLLOW": False,
                      "TESTING": True})
    try:
        token = app.extensions["coopreg"].tokens.issue("auditor", None, "boa")
        client = app.test_client()
        for path in ("/v1/log/public-key", "/v1/log/checkpoint"):
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 503
            assert "coopreg init" in response.get_json()["detail"]
    finally:
        app.extensions["coopreg"].services.close()
