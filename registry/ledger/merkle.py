"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Leaves hash as SHA-256(0x00 || data), interior nodes as SHA-256(0x01 || left || right); the
tree of n leaves splits at k, the largest power of two smaller than n (RFC 9162 §2.1.1).
Proof generation reads subtree hashes through `SubtreeHashes`, so a store that keeps the
perfect subtrees answers any proof in O(log n) look-ups; `CompactTree` appends a leaf in
O(log n) by keeping only the roots of the perfect subtrees on the tree's right edge.
Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) exactly, so
an auditor's independent implementation can be checked against this one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Hash = bytes
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> Hash:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: Hash, right: Hash) -> Hash:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# A function answering the hash of the subtree over leaves [start, end).
SubtreeHashes = Callable[[int, int], Hash]


def subtree_from_leaves(leaves: Sequence[Hash]) -> SubtreeHashes:
    """Subtree hashes computed from leaf hashes (for tests and small trees)."""

    def mth(start: int, end: int) -> Hash:
        if end - start == 0:
            return EMPTY_ROOT
        if end - start == 1:
            return leaves[start]
        k = split(end - start)
        return node_hash(mth(start, start + k), mth(start + k, end))

    return mth


def root(leaves: Sequence[Hash]) -> Hash:
    return subtree_from_leaves(leaves)(0, len(leaves))


def inclusion_proof(index: int, size: int, mth: SubtreeHashes) -> list[Hash]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1: the audit path of leaf `index` in a tree of
    `size` leaves, nearest sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[Hash] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(mth(start + k, end))
            end = start + k
        else:
            path.append(mth(start, start + k))
            start += k
    return path[::-1]


def consistency_proof(first: int, second: int, mth: SubtreeHashes) -> list[Hash]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1: shows the tree of `first` leaves is a prefix
    of the tree of `second` leaves."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    return _subproof(first, 0, second, True, mth)


def _subproof(m: int, start: int, end: int, complete: bool, mth: SubtreeHashes) -> list[Hash]:
    n = end - start
    if m == n:
        return [] if complete else [mth(start, end)]
    k = split(n)
    if m <= k:
        return [*_subproof(m, start, start + k, complete, mth), mth(start + k, end)]
    return [*_subproof(m - k, start + k, end, False, mth), mth(start, start + k)]


def root_from_inclusion(index: int, size: int, leaf: Hash, proof: Sequence[Hash]) -> Hash:
    """The root an inclusion proof implies (RFC 9162 §2.1.3.2); raises on a malformed proof."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: Hash, proof: Sequence[Hash],
                     expected_root: Hash) -> bool:
    try:
        return root_from_inclusion(index, size, leaf, proof) == expected_root
    except ValueError:
        return False


def verify_consistency(first: int, second: int, first_root: Hash, second_root: Hash,
                       proof: Sequence[Hash]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is the first node
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def block_roots(first_index: int, leaves: bytes, block: int) -> bytes:
    """The roots of the perfect subtrees of `block` leaves (a power of two) that lie wholly
    in `leaves` (32 bytes each, the first at leaf index `first_index`) and start at a
    multiple of `block`, joined: what `CompactTree`-style appends take a block at a time."""
    count, sha256 = len(leaves) // 32, hashlib.sha256
    start = -first_index % block  # offset of the first aligned block
    blocks = max(0, (count - start) // block)
    level = leaves[32 * start:32 * (start + blocks * block)]
    while len(level) > 32 * blocks:  # a level's pairs are its 64-byte slices, in order
        level = b"".join([sha256(b"\x01" + level[at:at + 64]).digest()
                          for at in range(0, len(level), 64)])
    return level


class CompactTree:
    """Appends leaves in O(log n): keeps the roots of the perfect subtrees along the right
    edge (one per set bit of the size), from which the root of the whole tree follows."""

    def __init__(self, size: int = 0, edge: Sequence[Hash] = ()) -> None:
        if len(edge) != bin(size).count("1"):
            raise ValueError("one edge hash per perfect subtree (set bit of the size)")
        self.size = size
        self.edge = list(edge)  # largest subtree first

    def append(self, leaf: Hash) -> list[tuple[int, int, Hash]]:
        """Add a leaf; answer the perfect subtrees completed, as (start, height, hash), so a
        store can keep them for proofs."""
        completed = [(self.size, 0, leaf)]
        node, index, height = leaf, self.size, 0
        while index & 1:  # merge with the equal-sized subtree to the left
            node = node_hash(self.edge.pop(), node)
            height += 1
            index >>= 1
            completed.append(((index << height), height, node))
        self.edge.append(node)
        self.size += 1
        return completed

    def root(self) -> Hash:
        if not self.edge:
            return EMPTY_ROOT
        node = self.edge[-1]
        for left in reversed(self.edge[:-1]):
            node = node_hash(left, node)
        return node
