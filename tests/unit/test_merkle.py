"""The transparency log's Merkle tree, held to RFC 6962/9162: known test vectors, and
properties over random trees (every proof verifies; any altered hash fails)."""

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from registry.ledger.merkle import (
    EMPTY_ROOT,
    CompactTree,
    block_roots,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    subtree_from_leaves,
    verify_consistency,
    verify_inclusion,
)

# The eight-leaf tree of Certificate Transparency's reference tests (RFC 6962 hashing).
VECTOR_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
                 b"\x50\x51\x52\x53\x54\x55\x56\x57", bytes(range(0x60, 0x70))]
VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
VECTOR_PATH_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
LEAVES = [leaf_hash(d) for d in VECTOR_LEAVES]


def test_the_empty_tree_hashes_the_empty_string():
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_roots_match_the_reference_vectors():
    assert [root(LEAVES[:n]).hex() for n in range(1, 9)] == VECTOR_ROOTS


def test_an_audit_path_matches_the_reference_vector():
    path = inclusion_proof(0, 8, subtree_from_leaves(LEAVES))
    assert [p.hex() for p in path] == VECTOR_PATH_0_OF_8


def test_a_compact_tree_appends_to_the_same_roots():
    tree = CompactTree()
    for n, leaf in enumerate(LEAVES, start=1):
        tree.append(leaf)
        assert tree.root().hex() == VECTOR_ROOTS[n - 1]


leaves_strategy = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True).map(
    lambda data: [leaf_hash(d) for d in data])


def altered(proof: list[bytes], index: int) -> list[bytes]:
    changed = list(proof)
    changed[index] = bytes([changed[index][0] ^ 1]) + changed[index][1:]
    return changed


@settings(max_examples=150, deadline=None)
@given(leaves_strategy, st.data())
def test_every_inclusion_proof_verifies_and_any_altered_hash_fails(leaves, data):
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1))
    mth = subtree_from_leaves(leaves)
    tree_root = root(leaves)
    proof = inclusion_proof(index, size, mth)
    assert verify_inclusion(index, size, leaves[index], proof, tree_root)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        assert not verify_inclusion(index, size, leaves[index], altered(proof, at), tree_root)
        assert not verify_inclusion(index, size, leaves[index], proof[:-1], tree_root)
    assert not verify_inclusion(index, size, altered([leaves[index]], 0)[0], proof, tree_root)
    if size > 1:
        other = (index + 1) % size
        assert not verify_inclusion(other, size, leaves[index], proof, tree_root)


@settings(max_examples=150, deadline=None)
@given(leaves_strategy, st.data())
def test_every_consistency_proof_verifies_and_any_altered_hash_fails(leaves, data):
    second = len(leaves)
    first = data.draw(st.integers(1, second))
    mth = subtree_from_leaves(leaves)
    first_root, second_root = mth(0, first), mth(0, second)
    proof = consistency_proof(first, second, mth)
    assert verify_consistency(first, second, first_root, second_root, proof)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        assert not verify_consistency(first, second, first_root, second_root,
                                      altered(proof, at))
    assert not verify_consistency(first, second, altered([first_root], 0)[0], second_root,
                                  proof)
    assert not verify_consistency(first, second, first_root, altered([second_root], 0)[0],
                                  proof)


@settings(max_examples=100, deadline=None)
@given(leaves_strategy)
def test_a_compact_tree_reports_each_perfect_subtree_it_completes(leaves):
    mth = subtree_from_leaves(leaves)
    tree = CompactTree()
    for leaf in leaves:
        for start, height, node in tree.append(leaf):
            assert node == mth(start, start + (1 << height))
    assert tree.root() == root(leaves)
    resumed = CompactTree(tree.size, tree.edge)  # resumable from its edge alone
    assert resumed.root() == tree.root()


def test_a_prefix_that_was_rewritten_is_not_consistent():
    """A log whose earlier leaves changed cannot prove it only grew."""
    mth = subtree_from_leaves(LEAVES)
    forged = [leaf_hash(b"forged"), *LEAVES[1:]]
    proof = consistency_proof(3, 8, subtree_from_leaves(forged))
    assert not verify_consistency(3, 8, mth(0, 3), root(forged), proof)


def test_agrees_with_an_independent_implementation():
    """pymerkle (RFC 9162) builds the same roots and audit paths (its path starts with the
    leaf itself). Its consistency proofs use another serialization, so those are checked
    against the RFC's own examples below."""
    from pymerkle import InmemoryTree

    data = [f"event {i}".encode() for i in range(40)]
    theirs = InmemoryTree(algorithm="sha256")
    ours = [leaf_hash(d) for d in data]
    mth = subtree_from_leaves(ours)
    for size, entry in enumerate(data, start=1):
        theirs.append_entry(entry)
        assert theirs.get_root(size) == root(ours[:size])
    for size in (1, 2, 3, 7, 8, 13, 32, 40):
        for index in {0, size // 2, size - 1}:
            path = theirs.prove_inclusion(index + 1, size).serialize()["path"]
            assert path[1:] == [p.hex() for p in inclusion_proof(index, size, mth)]


def test_the_worked_examples_of_rfc_6962():
    """RFC 6962 section 2.1.3 draws a 7-leaf tree (a..f, d6 leaves; g h i j k l nodes) and
    lists its audit paths and consistency proofs; ours are those."""
    d = [leaf_hash(f"d{n}".encode()) for n in range(7)]
    a, b, c, dd, e, f, j = d
    g, h, i = node_hash(a, b), node_hash(c, dd), node_hash(e, f)
    k, l_ = node_hash(g, h), node_hash(i, j)
    mth = subtree_from_leaves(d)
    assert root(d) == node_hash(k, l_)
    assert inclusion_proof(0, 7, mth) == [b, h, l_]
    assert inclusion_proof(3, 7, mth) == [c, g, l_]
    assert inclusion_proof(4, 7, mth) == [f, j, k]
    assert inclusion_proof(6, 7, mth) == [i, k]
    assert consistency_proof(3, 7, mth) == [c, dd, g, l_]
    assert consistency_proof(4, 7, mth) == [l_]
    assert consistency_proof(6, 7, mth) == [i, j, k]


@settings(max_examples=80, deadline=None)
@given(leaves_strategy, st.data())
def test_no_hash_of_a_proof_can_be_altered_and_no_size_misstated(leaves, data):
    """Every element of every proof matters, and a proof holds for its sizes only."""
    size = len(leaves)
    mth = subtree_from_leaves(leaves)
    index = data.draw(st.integers(0, size - 1))
    path = inclusion_proof(index, size, mth)
    for at in range(len(path)):
        assert not verify_inclusion(index, size, leaves[index], altered(path, at), root(leaves))
    if size > 1:
        assert not verify_inclusion(index, size - 1, leaves[index], path, mth(0, size - 1))
    first = data.draw(st.integers(1, size))
    proof = consistency_proof(first, size, mth)
    first_root = mth(0, first)
    for at in range(len(proof)):
        assert not verify_consistency(first, size, first_root, root(leaves), altered(proof, at))
    assert not verify_consistency(first, size, first_root, root(leaves), [*proof, first_root])
    if first > 1 and proof:
        assert not verify_consistency(first - 1, size, first_root, root(leaves), proof)


@given(st.integers(0, 40), st.integers(0, 70), st.sampled_from([1, 2, 4, 8, 16]))
def test_block_roots_are_the_roots_of_the_aligned_perfect_subtrees(first, count, block):
    """The leaves of indexes first..first+count-1: each block of `block` of them that
    starts at a multiple of `block` and lies wholly inside, as its Merkle root."""
    leaves = [leaf_hash(str(first + i).encode()) for i in range(count)]
    starts = [i for i in range(count) if (first + i) % block == 0 and i + block <= count]
    assert block_roots(first, b"".join(leaves), block) == b"".join(
        root(leaves[i:i + block]) for i in starts)
