"""Merkle tree hashing and proofs for the audit log, as in RFC 9162 §2.1 (the RFC 6962 tree).

Everything here works on *leaf hashes* (``leaf_hash(data)``), not on raw entries,
so callers can store the 32-byte leaf hashes next to their rows and never reread
the entries themselves. Pure Python, no I/O.

- ``root`` computes MTH(D[n]) in one pass with a stack of at most log2(n) hashes.
- ``TreeBuilder`` extends a tree one leaf at a time from its *frontier* (the roots
  of the perfect subtrees that make up the tree, left to right), so a sealer can
  persist ``(size, frontier)`` and continue later without the old leaves.
- ``inclusion_proof`` / ``consistency_proof`` build PATH(m, D[n]) and
  PROOF(m, D[n]) in O(n) hashing; ``verify_inclusion`` / ``verify_consistency``
  are the verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, which return
  False for anything that is not a valid proof rather than raising.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "TreeBuilder",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
LEAF_PREFIX = _LEAF_PREFIX  # for callers that hash leaves in a hot loop

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = _sha256(b"").digest()
"""MTH({}) — the root of the empty tree, SHA-256 of the empty string."""


def leaf_hash(data: bytes) -> bytes:
    """Return the leaf hash SHA-256(0x00 || data) of one log entry."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _fold(frontier: Sequence[bytes]) -> bytes:
    """Combine perfect-subtree roots (left to right, strictly decreasing sizes) into MTH.

    RFC 9162 splits a tree at the largest power of two below its size, so the
    tree is the left-most perfect subtree joined with the tree of the rest; read
    from the right, that is a right fold over the frontier.
    """
    if not frontier:
        return EMPTY_ROOT
    sha256 = _sha256
    acc = frontier[-1]
    for i in range(len(frontier) - 2, -1, -1):
        acc = sha256(_NODE_PREFIX + frontier[i] + acc).digest()
    return acc


def _range_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH of ``leaves[start:end]`` without copying the slice; O(end - start) time, O(log) memory.

    The stack holds the frontier of the leaves seen so far: after the j-th leaf
    (counting from 1) it merges once per trailing zero bit of j, exactly as
    ``TreeBuilder.append`` does.
    """
    if start >= end:
        return EMPTY_ROOT
    if end - start == 1:
        return leaves[start]
    sha256 = _sha256
    prefix = _NODE_PREFIX
    stack: list[bytes] = []
    push = stack.append
    pop = stack.pop
    for count, i in enumerate(range(start, end), 1):
        h = leaves[i]
        merges = count
        while not merges & 1:
            h = sha256(prefix + pop() + h).digest()
            merges >>= 1
        push(h)
    return _fold(stack)


def root(leaves: Sequence[bytes]) -> bytes:
    """Return MTH over ``leaves``, which are leaf hashes (see ``leaf_hash``); EMPTY_ROOT if none."""
    return _range_root(leaves, 0, len(leaves))


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeBuilder:
    """An append-only Merkle tree that keeps only its frontier: O(log n) memory and root().

    The frontier is the list of roots of the perfect subtrees the tree is made
    of, left to right, one per set bit of ``size`` from the highest bit down.
    Persist ``size`` and ``frontier`` and restore with ``from_frontier`` to
    continue the same tree without its old leaves.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._frontier: list[bytes] = []

    @classmethod
    def from_frontier(cls, size: int, frontier: list[bytes]) -> TreeBuilder:
        """Restore a builder from a persisted ``size`` and ``frontier``.

        Raises ValueError when the frontier cannot belong to a tree of that size
        (one entry per set bit of ``size``, each a 32-byte hash).
        """
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        expected = size.bit_count()
        if len(frontier) != expected:
            raise ValueError(
                f"a tree of size {size} has {expected} frontier hashes, got {len(frontier)}"
            )
        for h in frontier:
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise ValueError(f"frontier entries must be {HASH_SIZE}-byte hashes")
        builder = cls()
        builder._size = size
        builder._frontier = list(frontier)
        return builder

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def frontier(self) -> list[bytes]:
        """A copy of the perfect-subtree roots, left to right (largest subtree first)."""
        return list(self._frontier)

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash (see ``leaf_hash``); amortised O(1) hashing."""
        frontier = self._frontier
        h = leaf
        # Appending leaf number size+1 completes one perfect subtree per
        # trailing one bit of the old size, i.e. per trailing zero of the new.
        merges = self._size
        while merges & 1:
            h = _sha256(_NODE_PREFIX + frontier.pop() + h).digest()
            merges >>= 1
        frontier.append(h)
        self._size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append leaf hashes in order; the same tree as ``append`` one by one, in one loop
        (the sealer and the verifier add a million leaves at a time)."""
        frontier = self._frontier
        pop, push = frontier.pop, frontier.append
        sha256, prefix = _sha256, _NODE_PREFIX
        size = self._size
        for h in leaves:
            merges = size
            while merges & 1:
                h = sha256(prefix + pop() + h).digest()
                merges >>= 1
            push(h)
            size += 1
        self._size = size

    def root(self) -> bytes:
        """MTH of the leaves appended so far; O(log n)."""
        return _fold(self._frontier)


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Return PATH(index, D[size]) (RFC 9162 §2.1.3.1) over the first ``size`` leaf hashes.

    The proof lists sibling subtree hashes from the leaf upwards. Raises
    ValueError unless 0 <= index < size <= len(leaves).
    """
    if size < 0 or size > len(leaves):
        raise ValueError(f"size {size} is outside 0..{len(leaves)}")
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside the tree of size {size}")
    # Walk down from the root, noting each sibling subtree; PATH lists them
    # bottom-up, so the walk's order is reversed at the end.
    siblings: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            siblings.append(_range_root(leaves, mid, hi))
            hi = mid
        else:
            siblings.append(_range_root(leaves, lo, mid))
            lo = mid
    siblings.reverse()
    return siblings


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """Return PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1) over the leaf hashes.

    Empty when ``old_size`` is 0 or equal to ``new_size``. Raises ValueError
    unless 0 <= old_size <= new_size <= len(leaves).
    """
    if new_size < 0 or new_size > len(leaves):
        raise ValueError(f"new_size {new_size} is outside 0..{len(leaves)}")
    if not 0 <= old_size <= new_size:
        raise ValueError(f"old_size {old_size} is outside 0..{new_size}")
    if old_size in (0, new_size):
        return []
    # SUBPROOF(m, D[lo:hi], b), unrolled: each step notes one subtree hash that
    # the recursive definition appends after the inner SUBPROOF's output.
    after: list[bytes] = []
    lo, hi, m = 0, new_size, old_size
    complete = True  # b: the old tree is the whole of the subtree being descended
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            after.append(_range_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            after.append(_range_root(leaves, lo, lo + k))
            lo += k
            m -= k
            complete = False
    proof = [] if complete else [_range_root(leaves, lo, hi)]
    proof.extend(reversed(after))
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check that leaf hash ``leaf`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2. Returns False (never raises) for a wrong index or size,
    an index outside the tree, or a proof that is too short or too long.
    """
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False  # proof is longer than the path
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            if not fn & 1:
                # Right-edge node without a right sibling: climb until it is one.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check that the tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 §2.1.4.2 for 0 < old_size < new_size. Equal sizes need an empty
    proof and equal roots; old_size 0 needs an empty proof and ``old_root`` equal
    to EMPTY_ROOT (the only root an empty tree has). False, never an exception,
    for anything else that does not verify.
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree of the new one; the proof leaves it out.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False  # proof is longer than needed
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
