"""The audit log's Merkle tree: RFC 9162 roots, inclusion and consistency proofs.

Everything is checked against a deliberately naive recursive implementation
written straight from the RFC's definitions (slicing, recursion), and against
the published certificate-transparency test vectors for the eight-entry tree.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

import pytest

from exchange.audit.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------------------
# Reference implementation: RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1, literally.


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (so MTH({d}) is the leaf hash itself)."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = ref_k(n)
    return hashlib.sha256(b"\x01" + ref_mth(hashes[:k]) + ref_mth(hashes[k:])).digest()


def ref_path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, hashes[:k]), ref_mth(hashes[k:])]
    return [*ref_path(m - k, hashes[k:]), ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if b else [ref_mth(hashes)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, hashes[:k], b), ref_mth(hashes[k:])]
    return [*ref_subproof(m - k, hashes[k:], False), ref_mth(hashes[:k])]


def ref_proof(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    return ref_subproof(m, hashes, True)


# ---------------------------------------------------------------------------
# Test data

CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_HASHES = [leaf_hash(d) for d in CT_LEAVES]

# MTH(D[size]) of the first `size` entries above, from the CT reference tests.
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

# (0-based index, size) -> PATH, from the CT / Trillian log verifier tests.
CT_INCLUSION = {
    (0, 1): [],
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}

# (old_size, new_size) -> PROOF, from the same tests.
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def ref_shape(m: int, n: int) -> list[bool]:
    """The sides of PATH(m, D[n]) bottom-up (True: sibling on the left); the proof's shape."""
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_shape(m, k), False]
    return [*ref_shape(m - k, n - k), True]


def ref_proof_shape(m: int, n: int, b: bool = True) -> list[str]:
    """The shape of SUBPROOF(m, D[n], b): which subtrees it lists, and on which side."""
    if m == n:
        return [] if b else ["old"]
    k = ref_k(n)
    if m <= k:
        return [*ref_proof_shape(m, k, b), "right"]
    return [*ref_proof_shape(m - k, n - k, False), "left"]


MAX_SIZE = 70
# Twice as many leaves as the largest tree, so "wrong size" claims up to 2n have roots.
ALL_HASHES = [leaf_hash(i.to_bytes(4, "big")) for i in range(2 * MAX_SIZE + 2)]
HASHES = ALL_HASHES[:MAX_SIZE]
REF_ROOTS = {n: ref_mth(ALL_HASHES[:n]) for n in range(len(ALL_HASHES) + 1)}


def flipped(h: bytes, pos: int = 0) -> bytes:
    return h[:pos] + bytes([h[pos] ^ 0x01]) + h[pos + 1 :]


def tampered_proofs(proof: list[bytes]) -> list[list[bytes]]:
    """Every single-edit corruption the verifiers must reject."""
    out: list[list[bytes]] = []
    for i, h in enumerate(proof):
        out.append([*proof[:i], flipped(h), *proof[i + 1 :]])
        out.append([*proof[:i], flipped(h, len(h) - 1), *proof[i + 1 :]])
        out.append(proof[:i] + proof[i + 1 :])  # element missing
        out.append([*proof[: i + 1], h, *proof[i + 1 :]])  # element repeated
    out.append([*proof, EMPTY_ROOT])  # extra element at the end
    out.append([EMPTY_ROOT, *proof])  # extra element at the front
    return out


# ---------------------------------------------------------------------------
# Hashing and golden vectors


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert leaf_hash(b"\x01ab") != node_hash(b"a", b"b")


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert TreeBuilder().root() == EMPTY_ROOT
    assert TreeBuilder().size == 0


@pytest.mark.parametrize(("size", "expected"), sorted(CT_ROOTS.items()))
def test_reference_matches_ct_root_vectors(size: int, expected: str) -> None:
    # The reference implementation is the arbiter: it is checked first, so a
    # wrong golden value shows up here rather than as a bug in merkle.py.
    assert ref_mth(CT_HASHES[:size]).hex() == expected


@pytest.mark.parametrize(("size", "expected"), sorted(CT_ROOTS.items()))
def test_root_matches_ct_root_vectors(size: int, expected: str) -> None:
    assert root(CT_HASHES[:size]).hex() == expected
    builder = TreeBuilder()
    for h in CT_HASHES[:size]:
        builder.append(h)
    assert builder.root().hex() == expected


@pytest.mark.parametrize(("key", "expected"), sorted(CT_INCLUSION.items()))
def test_inclusion_matches_ct_vectors(key: tuple[int, int], expected: list[str]) -> None:
    index, size = key
    assert [h.hex() for h in ref_path(index, CT_HASHES[:size])] == expected
    proof = inclusion_proof(CT_HASHES, index, size)
    assert [h.hex() for h in proof] == expected
    assert verify_inclusion(CT_HASHES[index], index, size, proof, bytes.fromhex(CT_ROOTS[size]))


@pytest.mark.parametrize(("key", "expected"), sorted(CT_CONSISTENCY.items()))
def test_consistency_matches_ct_vectors(key: tuple[int, int], expected: list[str]) -> None:
    old, new = key
    assert [h.hex() for h in ref_proof(old, CT_HASHES[:new])] == expected
    proof = consistency_proof(CT_HASHES, old, new)
    assert [h.hex() for h in proof] == expected
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, proof)


# ---------------------------------------------------------------------------
# Every size up to MAX_SIZE against the reference


def test_root_and_builder_match_reference_for_every_size() -> None:
    builder = TreeBuilder()
    assert builder.root() == REF_ROOTS[0]
    for n in range(1, MAX_SIZE + 1):
        builder.append(HASHES[n - 1])
        assert builder.size == n
        assert root(HASHES[:n]) == REF_ROOTS[n], n
        assert builder.root() == REF_ROOTS[n], n
        assert len(builder.frontier) == n.bit_count()


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_inclusion_proofs_for_every_index(size: int) -> None:
    tree_root = REF_ROOTS[size]
    other_root = REF_ROOTS[size - 1]
    for index in range(size):
        leaf = HASHES[index]
        proof = inclusion_proof(HASHES, index, size)
        assert proof == ref_path(index, HASHES[:size]), (index, size)
        assert verify_inclusion(leaf, index, size, proof, tree_root)

        assert not verify_inclusion(flipped(leaf), index, size, proof, tree_root)
        assert not verify_inclusion(leaf, index, size, proof, other_root)
        for bad in tampered_proofs(proof):
            assert not verify_inclusion(leaf, index, size, bad, tree_root), (index, size, bad)
        for wrong_index in {index - 1, index + 1, index ^ 1, index ^ 2, size, -1} - {index}:
            assert not verify_inclusion(leaf, wrong_index, size, proof, tree_root)
        for wrong_size in {size - 1, size + 1, size * 2, size // 2, index, 0} - {size}:
            # Claimed with the root a tree of that size really has: rejected.
            if wrong_size > index:
                wrong_root = REF_ROOTS[wrong_size]
                assert not verify_inclusion(leaf, index, wrong_size, proof, wrong_root)
            # With the true root, the size only fixes the path's shape (RFC 9162
            # binds size to root in the signed tree head, not in the proof): a
            # size whose path for this index has the same shape folds to the
            # same root. Any other size is rejected.
            same_shape = wrong_size > index and (
                ref_shape(index, wrong_size) == ref_shape(index, size)
            )
            assert verify_inclusion(leaf, index, wrong_size, proof, tree_root) == same_shape


@pytest.mark.parametrize("new", range(1, MAX_SIZE + 1))
def test_consistency_proofs_for_every_pair(new: int) -> None:
    new_root = REF_ROOTS[new]
    for old in range(1, new + 1):
        old_root = REF_ROOTS[old]
        proof = consistency_proof(HASHES, old, new)
        assert proof == ref_proof(old, HASHES[:new]), (old, new)
        assert verify_consistency(old, new, old_root, new_root, proof)

        assert not verify_consistency(old, new, flipped(old_root), new_root, proof)
        assert not verify_consistency(old, new, old_root, flipped(new_root), proof)
        if old != new:
            assert not verify_consistency(new, old, new_root, old_root, proof)
        for bad in tampered_proofs(proof):
            assert not verify_consistency(old, new, old_root, new_root, bad), (old, new, bad)
        for wrong_old in {old - 1, old + 1, old ^ 1, old ^ 2} - {old}:
            if 0 < wrong_old <= new:
                wrong_old_root = REF_ROOTS[wrong_old]
                assert not verify_consistency(wrong_old, new, wrong_old_root, new_root, proof)
                assert not verify_consistency(wrong_old, new, old_root, new_root, proof)
        for wrong_new in {new - 1, new + 1, new * 2, new // 2} - {new}:
            if wrong_new < old:
                assert not verify_consistency(old, wrong_new, old_root, new_root, proof)
                continue
            wrong_root = REF_ROOTS[wrong_new]
            assert not verify_consistency(old, wrong_new, old_root, wrong_root, proof)
            # As with inclusion, the new size only fixes the proof's shape.
            same_shape = ref_proof_shape(old, wrong_new) == ref_proof_shape(old, new)
            accepted = verify_consistency(old, wrong_new, old_root, new_root, proof)
            assert accepted == same_shape, (old, new, wrong_new)


def test_consistency_edge_cases() -> None:
    r3, r5 = REF_ROOTS[3], REF_ROOTS[5]
    proof = consistency_proof(HASHES, 3, 5)
    assert verify_consistency(3, 5, r3, r5, proof)
    # Old tree larger than the new one.
    assert not verify_consistency(5, 3, r5, r3, proof)
    assert not verify_consistency(5, 3, r5, r3, [])
    assert not verify_consistency(-1, 3, r3, r3, [])
    # Equal sizes: empty proof and equal roots only.
    assert verify_consistency(5, 5, r5, r5, [])
    assert not verify_consistency(5, 5, r5, r3, [])
    assert not verify_consistency(5, 5, r5, r5, [r5])
    # Empty old tree: consistent with anything, but only by an empty proof and
    # only for the empty tree's root.
    assert consistency_proof(HASHES, 0, 5) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, r5, [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, r5, [r5])
    assert not verify_consistency(0, 5, r3, r5, [])
    # Sizes differ but no proof.
    assert not verify_consistency(3, 5, r3, r5, [])


def test_inclusion_edge_cases() -> None:
    leaf = HASHES[0]
    assert inclusion_proof(HASHES, 0, 1) == []
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf, 1, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 1, [leaf], leaf)
    assert not verify_inclusion(leaf, -1, 1, [], leaf)


@pytest.mark.parametrize(
    ("index", "size"),
    [(-1, 5), (5, 5), (0, 0), (0, MAX_SIZE + 1), (3, -1)],
)
def test_inclusion_proof_rejects_bad_arguments(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(HASHES, index, size)


@pytest.mark.parametrize(
    ("old", "new"),
    [(6, 5), (-1, 5), (1, MAX_SIZE + 1), (0, -1)],
)
def test_consistency_proof_rejects_bad_arguments(old: int, new: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        consistency_proof(HASHES, old, new)


def test_generators_use_only_the_first_size_leaves() -> None:
    # Later leaves must not leak into a proof for a smaller tree.
    other = [*HASHES[:10], *(flipped(h) for h in HASHES[10:])]
    assert inclusion_proof(other, 3, 10) == inclusion_proof(HASHES, 3, 10)
    assert consistency_proof(other, 4, 10) == consistency_proof(HASHES, 4, 10)


# ---------------------------------------------------------------------------
# TreeBuilder persistence


@pytest.mark.parametrize("split", [0, 1, 2, 3, 7, 8, 13, 32, 33, 63, 64])
def test_builder_continues_identically_from_its_frontier(split: int) -> None:
    first = TreeBuilder()
    for h in HASHES[:split]:
        first.append(h)
    restored = TreeBuilder.from_frontier(first.size, first.frontier)
    assert restored.size == split
    assert restored.root() == REF_ROOTS[split]
    for n in range(split + 1, MAX_SIZE + 1):
        restored.append(HASHES[n - 1])
        first.append(HASHES[n - 1])
        assert restored.root() == first.root() == REF_ROOTS[n]
        assert restored.frontier == first.frontier


@pytest.mark.parametrize("split", [0, 1, 2, 3, 7, 8, 13, 32, 33, 63, 64])
def test_extend_builds_the_tree_that_append_does(split: int) -> None:
    builder = TreeBuilder()
    builder.extend(HASHES[:split])
    assert (builder.size, builder.root()) == (split, REF_ROOTS[split])
    builder.extend([])
    builder.extend(HASHES[split:MAX_SIZE])
    one_by_one = TreeBuilder()
    for h in HASHES[:MAX_SIZE]:
        one_by_one.append(h)
    assert builder.root() == one_by_one.root() == REF_ROOTS[MAX_SIZE]
    assert builder.frontier == one_by_one.frontier
    assert builder.size == MAX_SIZE


def test_frontier_is_a_copy() -> None:
    builder = TreeBuilder()
    for h in HASHES[:5]:
        builder.append(h)
    builder.frontier.clear()
    assert builder.root() == REF_ROOTS[5]


def test_frontier_holds_the_perfect_subtree_roots() -> None:
    builder = TreeBuilder()
    for h in HASHES[:13]:
        builder.append(h)
    # 13 = 8 + 4 + 1
    assert builder.frontier == [ref_mth(HASHES[0:8]), ref_mth(HASHES[8:12]), HASHES[12]]


@pytest.mark.parametrize(
    ("size", "frontier"),
    [
        (-1, []),
        (0, [HASHES[0]]),
        (5, [HASHES[0]]),
        (5, [HASHES[0], HASHES[1], HASHES[2]]),
        (1, [b"short"]),
    ],
)
def test_from_frontier_rejects_inconsistent_state(size: int, frontier: list[bytes]) -> None:
    with pytest.raises(ValueError, match=r"size|frontier"):
        TreeBuilder.from_frontier(size, frontier)


def test_random_leaves_against_reference() -> None:
    # Not for secrets: a fixed seed makes the "random" tree reproducible.
    rng = random.Random(9162)  # noqa: S311
    hashes = [rng.randbytes(32) for _ in range(300)]
    builder = TreeBuilder()
    for h in hashes:
        builder.append(h)
    assert root(hashes) == builder.root() == ref_mth(hashes)
    for index in (0, 1, 150, 255, 256, 299):
        proof = inclusion_proof(hashes, index, 300)
        assert proof == ref_path(index, hashes)
        assert verify_inclusion(hashes[index], index, 300, proof, builder.root())
    for old in (1, 127, 128, 129, 257):
        proof = consistency_proof(hashes, old, 300)
        assert proof == ref_proof(old, hashes)
        assert verify_consistency(old, 300, ref_mth(hashes[:old]), builder.root(), proof)
