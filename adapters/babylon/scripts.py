"""Babylon's taproot leaf scripts, script tree and output key (spec babylon.md §2.1-2.2).

Everything here is byte-exact with babylon `btcstaking/` and checked against the official
construction vectors. Keys are 32-byte BIP340 x-only keys throughout. The EC work (one
point tweak per built output) goes through libsecp256k1 (coincurve) and is cached per
(staker, FP set, staking time, covenant set, quorum), because the same stake is rebuilt
for its creation, its unbonding check and every later spend.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from coincurve import PublicKey, PublicKeyXOnly

from indexer.chain.script import compact_size, tagged_hash
from indexer.chain.script import push_int as _push_int

__all__ = [
    "LEAF_VERSION",
    "NUMS_X",
    "DuplicateKeyError",
    "StakingScripts",
    "build_staking",
    "covenant_multisig",
    "is_valid_xonly",
    "output_key",
    "p2tr_script",
    "push_int",
    "slashing_change_script_pubkey",
    "slashing_leaf",
    "tapbranch",
    "tapleaf_hash",
    "timelock_leaf",
    "unbonding_leaf",
    "unbonding_script_pubkey",
]

#: BIP341 NUMS point (x = SHA256 of the uncompressed generator): an unspendable key path.
NUMS_X = bytes.fromhex("50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0")
LEAF_VERSION = 0xC0

OP_CHECKSIG = 0xAC
OP_CHECKSIGVERIFY = 0xAD
OP_CHECKSIGADD = 0xBA
OP_NUMEQUAL = 0x9C
OP_NUMEQUALVERIFY = 0x9D
OP_CSV = 0xB2

Keys = tuple[bytes, ...]


class DuplicateKeyError(ValueError):
    """A key appears twice among staker, FPs and covenants; babylon refuses to build that."""


# NOTE: the tag prefixes are precomputed because the staking-time brute force (§2.5) hashes
# up to 65535 leaves; it halves the work per leaf.
_LEAF_PREFIX = hashlib.sha256(b"TapLeaf").digest() * 2
_BRANCH_PREFIX = hashlib.sha256(b"TapBranch").digest() * 2


def tapleaf_hash(script: bytes) -> bytes:
    """TaggedHash("TapLeaf", 0xc0 || compact_size(len) || script)."""
    return hashlib.sha256(_LEAF_PREFIX + bytes([LEAF_VERSION]) + compact_size(len(script))
                          + script).digest()


def tapbranch(a: bytes, b: bytes) -> bytes:
    """TaggedHash("TapBranch", min(a, b) || max(a, b))."""
    if b < a:
        a, b = b, a
    return hashlib.sha256(_BRANCH_PREFIX + a + b).digest()


def push_int(n: int) -> bytes:
    """An integer pushed as btcd's ScriptBuilder.AddInt64 does (OP_0, OP_1..OP_16, minimal).

    That is the shared `push_int` (Core's encoding) for every non-negative number.
    """
    if n < 0:
        # Babylon's own guard (btcd would push it): a negative staking time, quorum or
        # threshold is a caller bug, so it fails loudly instead of building a script.
        raise ValueError("babylon scripts never push negative numbers")
    return _push_int(n)


def _pk(key: bytes) -> bytes:
    if len(key) != 32:
        raise ValueError(f"expected a 32-byte x-only key, got {len(key)} bytes")
    return b"\x20" + key


def timelock_leaf(staker: bytes, blocks: int) -> bytes:
    """<staker> CHECKSIGVERIFY <blocks> CHECKSEQUENCEVERIFY."""
    return _pk(staker) + bytes([OP_CHECKSIGVERIFY]) + push_int(blocks) + bytes([OP_CSV])


def _multisig(keys: Keys, threshold: int, verify: bool) -> bytes:
    """Sorted CHECKSIG/CHECKSIGADD multisig; a lone key degenerates to CHECKSIG(VERIFY)."""
    if not keys:
        raise ValueError("a multisig needs at least one key")
    ordered = sorted(keys)
    if len(ordered) == 1:
        return _pk(ordered[0]) + bytes([OP_CHECKSIGVERIFY if verify else OP_CHECKSIG])
    out = bytearray(_pk(ordered[0]) + bytes([OP_CHECKSIG]))
    for k in ordered[1:]:
        out += _pk(k) + bytes([OP_CHECKSIGADD])
    out += push_int(threshold) + bytes([OP_NUMEQUALVERIFY if verify else OP_NUMEQUAL])
    return bytes(out)


def covenant_multisig(covenants: Keys, quorum: int) -> bytes:
    return _multisig(covenants, quorum, verify=False)


def unbonding_leaf(staker: bytes, covenants: Keys, quorum: int) -> bytes:
    return _pk(staker) + bytes([OP_CHECKSIGVERIFY]) + covenant_multisig(covenants, quorum)


def slashing_leaf(staker: bytes, fps: Keys, covenants: Keys, quorum: int) -> bytes:
    # Several FPs (phase-2 restaking) become a 1-of-n CHECKSIGADD ... OP_1 OP_NUMEQUALVERIFY.
    return (_pk(staker) + bytes([OP_CHECKSIGVERIFY]) + _multisig(fps, 1, verify=True)
            + covenant_multisig(covenants, quorum))


def is_valid_xonly(key: bytes) -> bool:
    """True when `key` is the x coordinate of a point on secp256k1."""
    return _valid_xonly(bytes(key))


@lru_cache(maxsize=65536)
def _valid_xonly(key: bytes) -> bool:
    if len(key) != 32:
        return False
    try:
        PublicKeyXOnly(key)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=65536)
def output_key(merkle_root: bytes) -> tuple[bytes, int]:
    """(x, parity) of lift_x(NUMS) + TaggedHash("TapTweak", NUMS || root)·G."""
    tweak = tagged_hash("TapTweak", NUMS_X + merkle_root)
    q = PublicKey(b"\x02" + NUMS_X).add(tweak).format(compressed=True)
    return q[1:], q[0] & 1


def p2tr_script(x: bytes) -> bytes:
    return b"\x51\x20" + x


def _check_distinct(staker: bytes, fps: Keys, covenants: Keys) -> None:
    keys = [staker, *fps, *covenants]
    if len(set(keys)) != len(keys):
        raise DuplicateKeyError("a key appears twice among staker, finality providers and "
                                "covenants")


@dataclass(frozen=True, slots=True)
class StakingScripts:
    """The three leaves of a staking output, their hashes, the root and the output."""

    timelock: bytes
    unbonding: bytes
    slashing: bytes
    timelock_hash: bytes
    unbonding_hash: bytes
    slashing_hash: bytes
    root: bytes
    output_x: bytes
    parity: int

    @property
    def script_pubkey(self) -> bytes:
        return p2tr_script(self.output_x)


@lru_cache(maxsize=65536)
def build_staking(staker: bytes, fps: Keys, staking_time: int, covenants: Keys,
                  quorum: int) -> StakingScripts:
    """The staking output: root = Branch(Branch(timelock, unbonding), slashing).

    Raises DuplicateKeyError as babylon's builder does; covenant order does not matter
    (the multisig sorts), but callers should pass a canonical (sorted) tuple for caching.
    """
    _check_distinct(staker, fps, covenants)
    tl = timelock_leaf(staker, staking_time)
    ub = unbonding_leaf(staker, covenants, quorum)
    sl = slashing_leaf(staker, fps, covenants, quorum)
    tl_h, ub_h, sl_h = tapleaf_hash(tl), tapleaf_hash(ub), tapleaf_hash(sl)
    root = tapbranch(tapbranch(tl_h, ub_h), sl_h)
    x, parity = output_key(root)
    return StakingScripts(tl, ub, sl, tl_h, ub_h, sl_h, root, x, parity)


def unbonding_root(staker: bytes, unbonding_time: int, slashing_hash: bytes) -> bytes:
    """Root of the unbonding output: Branch(timelock(staker, unbonding_time), slashing)."""
    return tapbranch(tapleaf_hash(timelock_leaf(staker, unbonding_time)), slashing_hash)


def unbonding_script_pubkey(staker: bytes, unbonding_time: int, slashing_hash: bytes) -> bytes:
    """The unbonding output's scriptPubKey. It shares the staking output's slashing leaf,
    so only its hash is needed (which a spend's control block reveals even when the FP
    key is not known)."""
    return p2tr_script(output_key(unbonding_root(staker, unbonding_time, slashing_hash))[0])


def slashing_change_script_pubkey(staker: bytes, unbonding_time: int) -> bytes:
    """The slashing change output: a single-leaf tree timelock(staker, unbonding_time)."""
    return p2tr_script(output_key(tapleaf_hash(timelock_leaf(staker, unbonding_time)))[0])
