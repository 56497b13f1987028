"""Reading Babylon spends from their witnesses (spec babylon.md §2.3-2.5).

A script-path spend ends `... leaf_script, control_block` (an annex, if any, after them).
The leaf says which path was taken (timelock, unbonding, slashing) and reveals the staker
key and the covenant set; the control block's merkle path carries the hashes of the
sibling leaves, from which the staking time and FP key are recovered by trying candidates.
Pure functions over bytes; the adapter decides what to emit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from adapters.babylon.scripts import (
    NUMS_X,
    OP_CHECKSIG,
    OP_CHECKSIGADD,
    OP_CHECKSIGVERIFY,
    OP_CSV,
    OP_NUMEQUAL,
    OP_NUMEQUALVERIFY,
    output_key,
    p2tr_script,
    slashing_leaf,
    tapbranch,
    tapleaf_hash,
    timelock_leaf,
    unbonding_leaf,
)

__all__ = [
    "Leaf",
    "ScriptPathSpend",
    "SpentOutput",
    "identify_spent_output",
    "parse_leaf",
    "recover_fp",
    "recover_staking_time",
    "recover_staking_time_from_branch",
    "script_path",
]

CovenantSet = tuple[tuple[bytes, ...], int]
MAX_CSV = 65535
#: Staking times tried before the full 1..65535 sweep (mainnet always 64000).
COMMON_STAKING_TIMES = (64000, 10000, 1008)


@dataclass(frozen=True, slots=True)
class ScriptPathSpend:
    """A taproot script-path spend over the NUMS internal key."""

    leaf: bytes
    control: bytes
    parity: int
    path: tuple[bytes, ...]
    args: tuple[bytes, ...]  # the stack items below the leaf (signatures, empty slots)

    @property
    def spent_script_pubkey(self) -> bytes | None:
        """The P2TR output this spend proves it spends, or None if the parity disagrees."""
        node = tapleaf_hash(self.leaf)
        for sibling in self.path:
            node = tapbranch(node, sibling)
        x, parity = output_key(node)
        return p2tr_script(x) if parity == self.parity else None


def script_path(witness: Sequence[bytes]) -> ScriptPathSpend | None:
    """The script-path spend in `witness` when its internal key is NUMS, else None."""
    items = list(witness)
    if len(items) >= 2 and items[-1][:1] == b"\x50":
        items.pop()  # annex (BIP341): never used by Babylon, tolerated
    if len(items) < 2:
        return None
    cb = items[-1]
    if len(cb) < 33 or (len(cb) - 33) % 32 or (cb[0] & 0xFE) != 0xC0 or cb[1:33] != NUMS_X:
        return None
    path = tuple(cb[i:i + 32] for i in range(33, len(cb), 32))
    return ScriptPathSpend(items[-2], cb, cb[0] & 1, path, tuple(items[:-2]))


@dataclass(frozen=True, slots=True)
class Leaf:
    """A Babylon leaf: `timelock` (staker, blocks), `unbonding` or `slashing` (+ keys)."""

    kind: str
    staker: bytes
    blocks: int | None = None
    fps: tuple[bytes, ...] = ()
    covenants: tuple[bytes, ...] = ()
    quorum: int = 0

    @property
    def covenant_set(self) -> CovenantSet:
        return self.covenants, self.quorum


def _read_int(s: bytes, i: int) -> tuple[int, int] | None:
    """A pushed non-negative integer at s[i]: (value, next offset)."""
    if i >= len(s):
        return None
    op = s[i]
    if 0x51 <= op <= 0x60:
        return op - 0x50, i + 1
    if 1 <= op <= 4 and i + 1 + op <= len(s):
        return int.from_bytes(s[i + 1:i + 1 + op], "little"), i + 1 + op
    return None


def _read_multisig(s: bytes, i: int) -> tuple[tuple[bytes, ...], int, int, int] | None:
    """keys, threshold, final opcode, next offset of `k1 CHECKSIG (k CHECKSIGADD)* M op`.

    A single `k CHECKSIG` or `k CHECKSIGVERIFY` is returned with threshold 1.
    """
    keys: list[bytes] = []
    while i + 34 <= len(s) and s[i] == 0x20:
        op = s[i + 33]
        keys.append(s[i + 1:i + 33])
        i += 34
        if len(keys) == 1 and op in (OP_CHECKSIG, OP_CHECKSIGVERIFY):
            if op == OP_CHECKSIGVERIFY or i >= len(s) or s[i] != 0x20:
                return tuple(keys), 1, op, i
            continue
        if len(keys) > 1 and op == OP_CHECKSIGADD:
            continue
        return None
    if len(keys) < 2:
        return None
    num = _read_int(s, i)
    if num is None or num[1] >= len(s) or s[num[1]] not in (OP_NUMEQUAL, OP_NUMEQUALVERIFY):
        return None
    return tuple(keys), num[0], s[num[1]], num[1] + 1


def parse_leaf(script: bytes) -> Leaf | None:
    """Recognise a Babylon leaf; the result rebuilds to exactly `script` (canonical form)."""
    if len(script) < 36 or script[0] != 0x20 or script[33] != OP_CHECKSIGVERIFY:
        return None
    staker = script[1:33]
    num = _read_int(script, 34)
    if num is not None and num[1] == len(script) - 1 and script[-1] == OP_CSV:
        blocks = num[0]
        if 1 <= blocks <= MAX_CSV and timelock_leaf(staker, blocks) == script:
            return Leaf("timelock", staker, blocks)
        return None
    first = _read_multisig(script, 34)
    if first is None:
        return None
    keys, m, op, i = first
    if op in (OP_CHECKSIG, OP_NUMEQUAL) and i == len(script):
        leaf = Leaf("unbonding", staker, covenants=tuple(sorted(keys)), quorum=m)
        ok = unbonding_leaf(staker, leaf.covenants, m) == script
        return leaf if ok else None
    if op not in (OP_CHECKSIGVERIFY, OP_NUMEQUALVERIFY) or m != 1:
        return None
    second = _read_multisig(script, i)
    if second is None or second[2] not in (OP_CHECKSIG, OP_NUMEQUAL) or second[3] != len(script):
        return None
    leaf = Leaf("slashing", staker, fps=tuple(sorted(keys)), covenants=tuple(sorted(second[0])),
                quorum=second[1])
    if slashing_leaf(staker, leaf.fps, leaf.covenants, leaf.quorum) != script:
        return None
    return leaf


def _times(hints: Iterable[int]) -> Iterable[int]:
    seen = set()
    for t in (*hints, *COMMON_STAKING_TIMES):
        if 1 <= t <= MAX_CSV and t not in seen:
            seen.add(t)
            yield t
    for t in range(1, MAX_CSV + 1):
        if t not in seen:
            yield t


def recover_staking_time(staker: bytes, timelock_hash: bytes,
                         hints: Iterable[int] = ()) -> int | None:
    """The T with tapleaf_hash(timelock(staker, T)) == timelock_hash (hints first)."""
    for t in _times(hints):
        if tapleaf_hash(timelock_leaf(staker, t)) == timelock_hash:
            return t
    return None


def recover_staking_time_from_branch(staker: bytes, unbonding_hash: bytes, branch: bytes,
                                     hints: Iterable[int] = ()) -> int | None:
    """The T with Branch(timelock(staker, T), unbonding) == branch (a slashing spend)."""
    for t in _times(hints):
        if tapbranch(tapleaf_hash(timelock_leaf(staker, t)), unbonding_hash) == branch:
            return t
    return None


def recover_fp(staker: bytes, covenants: tuple[bytes, ...], quorum: int, slashing_hash: bytes,
               candidates: Iterable[bytes]) -> bytes | None:
    """The FP key whose slashing leaf hashes to `slashing_hash`, among `candidates`."""
    for fp in candidates:
        if fp == staker or fp in covenants:
            continue
        if tapleaf_hash(slashing_leaf(staker, (fp,), covenants, quorum)) == slashing_hash:
            return fp
    return None


@dataclass(frozen=True, slots=True)
class SpentOutput:
    """What a spend proves about the output it spends (from the witness alone).

    `output` is `staking`, `unbonding` or `slashing_change`. `slashing_hash` is the shared
    slashing leaf hash when the spend reveals it (it also builds the unbonding output).
    """

    output: str
    leaf: Leaf
    spend: ScriptPathSpend
    covenants: tuple[bytes, ...]
    quorum: int
    staking_time: int | None
    unbonding_time: int | None
    fp: bytes | None
    slashing_hash: bytes | None


def identify_spent_output(spend: ScriptPathSpend, leaf: Leaf,
                          known_sets: dict[CovenantSet, tuple[int, ...]],
                          fp_candidates: Sequence[bytes],
                          time_hints: Iterable[int] = ()) -> SpentOutput | None:
    """Prove that `spend` spends a Babylon output built with a known covenant set.

    `known_sets` maps each (sorted covenants, quorum) to the unbonding times used with it.
    Returns None when the shape cannot be tied to a known covenant set (for instance a
    timelock leaf with a single-leaf tree: any protocol could have written that).
    """
    path = spend.path
    hints = tuple(time_hints)
    if leaf.kind == "unbonding":
        if leaf.covenant_set not in known_sets or len(path) != 2:
            return None
        tl_hash, sl_hash = path
        t = recover_staking_time(leaf.staker, tl_hash, hints)
        fp = recover_fp(leaf.staker, leaf.covenants, leaf.quorum, sl_hash, fp_candidates)
        return SpentOutput("staking", leaf, spend, leaf.covenants, leaf.quorum, t, None, fp,
                           sl_hash)
    if leaf.kind == "slashing":
        uts = known_sets.get(leaf.covenant_set)
        if uts is None or len(path) != 1 or len(leaf.fps) != 1:
            return None
        fp = leaf.fps[0]
        sl_hash = tapleaf_hash(spend.leaf)
        for ut in uts:
            if tapleaf_hash(timelock_leaf(leaf.staker, ut)) == path[0]:
                return SpentOutput("unbonding", leaf, spend, leaf.covenants, leaf.quorum,
                                   None, ut, fp, sl_hash)
        ub_hash = tapleaf_hash(unbonding_leaf(leaf.staker, leaf.covenants, leaf.quorum))
        t = recover_staking_time_from_branch(leaf.staker, ub_hash, path[0], hints)
        if t is None:
            return None
        return SpentOutput("staking", leaf, spend, leaf.covenants, leaf.quorum, t, None, fp,
                           sl_hash)
    # A timelock leaf: tie it to Babylon through its siblings.
    assert leaf.blocks is not None
    if len(path) == 2:
        ub_hash, sl_hash = path
        for (covs, q) in known_sets:
            if tapleaf_hash(unbonding_leaf(leaf.staker, covs, q)) == ub_hash:
                fp = recover_fp(leaf.staker, covs, q, sl_hash, fp_candidates)
                return SpentOutput("staking", leaf, spend, covs, q, leaf.blocks, None, fp,
                                   sl_hash)
        return None
    if len(path) == 1:
        for (covs, q), uts in known_sets.items():
            if leaf.blocks not in uts:
                continue
            fp = recover_fp(leaf.staker, covs, q, path[0], fp_candidates)
            if fp is not None:
                return SpentOutput("unbonding", leaf, spend, covs, q, None, leaf.blocks, fp,
                                   path[0])
    return None

