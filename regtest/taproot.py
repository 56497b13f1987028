"""Taproot outputs (BIP341): script trees, the output-key tweak and control blocks.

A tree is a `TapLeaf` or a 2-tuple of trees, mirroring BIP341's `scriptTree` in its test
vectors. Branches hash their children in lexicographic order, so a control block only
needs the sibling hashes on the path from the leaf to the root.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TypeAlias

from coincurve import PublicKeyXOnly

from regtest.build import var_bytes
from regtest.keys import tagged_hash
from regtest.scripts import p2tr

TAPSCRIPT_LEAF_VERSION = 0xC0
#: BIP341's provably unspendable internal key H (lift_x of sha256(G)); Babylon uses it too.
NUMS_KEY = bytes.fromhex("50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0")


@dataclass(frozen=True)
class TapLeaf:
    """One leaf: a script and its leaf version (0xc0 for tapscript)."""

    script: bytes
    version: int = TAPSCRIPT_LEAF_VERSION

    @property
    def hash(self) -> bytes:
        return tap_leaf_hash(self.script, self.version)


#: A leaf, or a pair of subtrees (BIP341's `scriptTree` shape).
TapTree: TypeAlias = "TapLeaf | tuple[TapTree, TapTree]"


def tap_leaf_hash(script: bytes, version: int = TAPSCRIPT_LEAF_VERSION) -> bytes:
    return tagged_hash("TapLeaf", bytes([version & 0xFE]) + var_bytes(script))


def tap_branch_hash(a: bytes, b: bytes) -> bytes:
    """Hash of two children, smaller first (what makes the tree order-independent)."""
    return tagged_hash("TapBranch", min(a, b) + max(a, b))


def tree_paths(tree: TapTree) -> tuple[bytes, dict[TapLeaf, list[bytes]]]:
    """The tree's merkle root and, per leaf, the sibling hashes from the leaf upwards."""
    if isinstance(tree, TapLeaf):
        return tree.hash, {tree: []}
    left_hash, left_paths = tree_paths(tree[0])
    right_hash, right_paths = tree_paths(tree[1])
    paths = {leaf: [*p, right_hash] for leaf, p in left_paths.items()}
    for leaf, p in right_paths.items():
        paths.setdefault(leaf, [*p, left_hash])
    return tap_branch_hash(left_hash, right_hash), paths


def taproot_tweak(internal_key: bytes, merkle_root: bytes | None) -> bytes:
    """t = hashTapTweak(P || merkle_root); the root is omitted for a key-path-only output."""
    return tagged_hash("TapTweak", internal_key + (merkle_root or b""))


def tweak_public_key(internal_key: bytes, merkle_root: bytes | None) -> tuple[bytes, int]:
    """The output key Q = P + tG (x-only) and the parity of its y coordinate."""
    q = PublicKeyXOnly(internal_key)
    q.tweak_add(taproot_tweak(internal_key, merkle_root))
    return bytes(q.format()), int(q.parity)


@dataclass(frozen=True)
class TaprootOutput:
    """A taproot output: its internal key and optional script tree, and what derives from them."""

    internal_key: bytes
    tree: TapTree | None = None

    @cached_property
    def _paths(self) -> tuple[bytes | None, dict[TapLeaf, list[bytes]]]:
        if self.tree is None:
            return None, {}
        return tree_paths(self.tree)

    @property
    def merkle_root(self) -> bytes | None:
        return self._paths[0]

    @cached_property
    def _tweaked(self) -> tuple[bytes, int]:
        return tweak_public_key(self.internal_key, self.merkle_root)

    @property
    def tweak(self) -> bytes:
        return taproot_tweak(self.internal_key, self.merkle_root)

    @property
    def output_key(self) -> bytes:
        return self._tweaked[0]

    @property
    def parity(self) -> int:
        return self._tweaked[1]

    @property
    def script_pubkey(self) -> bytes:
        return p2tr(self.output_key)

    @property
    def leaves(self) -> list[TapLeaf]:
        return list(self._paths[1])

    def control_block(self, leaf: TapLeaf) -> bytes:
        """(leaf version | parity) || internal key || sibling hashes: BIP341's witness tail."""
        path = self._paths[1].get(leaf)
        if path is None:
            raise KeyError(f"leaf {leaf.hash.hex()} is not in this output's tree")
        return bytes([leaf.version | self.parity]) + self.internal_key + b"".join(path)


def control_block_root(control_block: bytes, leaf: TapLeaf) -> bytes:
    """The merkle root a control block proves for `leaf` (for checking spends)."""
    k = leaf.hash
    path = control_block[33:]
    for i in range(0, len(path), 32):
        k = tap_branch_hash(k, path[i:i + 32])
    return k
