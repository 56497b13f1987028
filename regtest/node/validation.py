"""The block checks the test node runs, in Bitcoin Core's order and with its reject reasons.

Context-free checks (`check_block`, Core's CheckBlock), header checks against the parent
(`check_header_contextual`, ContextualCheckBlockHeader) and block checks at a height
(`check_block_contextual`, ContextualCheckBlock). Each returns Core's BIP22 reject reason, or
None when the block passes.

NOTE: scripts, signatures, UTXOs, coinbase amounts and sigop counts are NOT validated: the
harness only submits blocks it built to be consensus-valid (and the same blocks are run
against a real bitcoind), so checking them here would only duplicate Core for no test value.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.chain.block import Block, Tx, hash256, merkle_root
from regtest.build import compact_size, push_int
from regtest.node.params import ChainParams

MAX_BLOCK_WEIGHT = 4_000_000
WITNESS_SCALE_FACTOR = 4
MAX_FUTURE_BLOCK_TIME = 2 * 60 * 60
LOCKTIME_THRESHOLD = 500_000_000
MAX_MONEY = 21_000_000 * 100_000_000


@dataclass(frozen=True)
class ParentInfo:
    """What the contextual checks need to know about the parent block."""

    height: int
    bits: int
    median_time_past: int


def target_from_compact(bits: int) -> tuple[int, bool, bool]:
    """(target, negative, overflow) as arith_uint256::SetCompact decodes `bits`."""
    size = bits >> 24
    word = bits & 0x007FFFFF
    target = word >> (8 * (3 - size)) if size <= 3 else word << (8 * (size - 3))
    negative = word != 0 and (bits & 0x00800000) != 0
    overflow = word != 0 and (size > 34 or (word > 0xFF and size > 33)
                              or (word > 0xFFFF and size > 32))
    return target, negative, overflow


def check_proof_of_work(block_hash: bytes, bits: int, pow_limit: int) -> bool:
    """Core's CheckProofOfWork; `block_hash` in internal byte order."""
    target, negative, overflow = target_from_compact(bits)
    if negative or overflow or target == 0 or target > pow_limit:
        return False
    return int.from_bytes(block_hash, "little") <= target


def _merkle_mutated(leaves: list[bytes]) -> bool:
    """Whether the tree has two equal siblings (CVE-2012-2459), as ComputeMerkleRoot flags."""
    level = list(leaves)
    while len(level) > 1:
        for i in range(0, len(level) - 1, 2):
            if level[i] == level[i + 1]:
                return True
        if len(level) % 2:
            level.append(level[-1])
        level = [hash256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return False


def stripped_size(block: Block) -> int:
    """The block's size without witness data (Core's TX_NO_WITNESS serialisation)."""
    return 80 + len(compact_size(len(block.txs))) + sum(len(tx.stripped()) for tx in block.txs)


def check_block(block: Block, params: ChainParams) -> str | None:
    """Core's CheckBlock (PoW, merkle root, sizes, coinbase, CheckTransaction)."""
    if not check_proof_of_work(hash256(block.header.raw), block.header.bits, params.pow_limit):
        return "high-hash"
    txids = [tx.txid_bytes for tx in block.txs]
    if merkle_root(txids) != bytes.fromhex(block.header.merkle_root)[::-1]:
        return "bad-txnmrklroot"
    if _merkle_mutated(txids):
        return "bad-txns-duplicate"
    if (not block.txs or len(block.txs) * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
            or stripped_size(block) * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT):
        return "bad-blk-length"
    if not block.txs[0].is_coinbase:
        return "bad-cb-missing"
    if any(tx.is_coinbase for tx in block.txs[1:]):
        return "bad-cb-multiple"
    for tx in block.txs:
        reason = _check_transaction(tx)
        if reason is not None:
            return reason
    return None


def _check_transaction(tx: Tx) -> str | None:
    """Core's CheckTransaction (context free)."""
    if not tx.inputs:
        return "bad-txns-vin-empty"
    if not tx.outputs:
        return "bad-txns-vout-empty"
    if len(tx.stripped()) * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT:
        return "bad-txns-oversize"
    total = 0
    for out in tx.outputs:
        if out.value > MAX_MONEY:
            return "bad-txns-vout-toolarge"
        total += out.value
        if total > MAX_MONEY:
            return "bad-txns-txouttotal-toolarge"
    if len({i.prevout for i in tx.inputs}) != len(tx.inputs):
        return "bad-txns-inputs-duplicate"
    if tx.is_coinbase:
        if not 2 <= len(tx.inputs[0].script_sig) <= 100:
            return "bad-cb-length"
    elif any(i.prev_vout == 0xFFFFFFFF and i.prev_txid == b"\x00" * 32 for i in tx.inputs):
        return "bad-txns-prevout-null"
    return None


def check_header_contextual(block: Block, parent: ParentInfo, params: ChainParams,
                            now: int) -> str | None:
    """Core's ContextualCheckBlockHeader against the parent."""
    height = parent.height + 1
    header = block.header
    # NOTE: only regtest (no retargeting) pins the bits; the other chains' retarget rules are
    # not reimplemented, the test node never mines on them.
    if params.pow_no_retargeting and header.bits != parent.bits:
        return "bad-diffbits"
    if header.time <= parent.median_time_past:
        return "time-too-old"
    if header.time > now + MAX_FUTURE_BLOCK_TIME:
        return "time-too-new"
    v = header.version
    if ((v < 2 and height >= params.bip34_height) or (v < 3 and height >= params.bip66_height)
            or (v < 4 and height >= params.bip65_height)):
        return f"bad-version(0x{v & 0xFFFFFFFF:08x})"
    return None


def check_block_contextual(block: Block, parent: ParentInfo,
                           params: ChainParams) -> tuple[str, bool] | None:
    """Core's ContextualCheckBlock: (reason, mutated) on failure, None when it passes.

    `mutated` is Core's BLOCK_MUTATED: such a failure does not mark the header invalid,
    since the same header with other block data could still be valid.
    """
    height = parent.height + 1
    # BIP113 (CSV, active on every chain the node serves) measures time locks against the MTP.
    cutoff = parent.median_time_past
    for tx in block.txs:
        if not _is_final(tx.locktime, [i.sequence for i in tx.inputs], height, cutoff):
            return "bad-txns-nonfinal", False
    if height >= params.bip34_height:
        expect = push_int(height)
        if not block.txs[0].inputs[0].script_sig.startswith(expect):
            return "bad-cb-height", False
    reason = _check_witness(block, height >= params.segwit_height)
    if reason is not None:
        return reason, True
    size = len(block.raw)
    if stripped_size(block) * (WITNESS_SCALE_FACTOR - 1) + size > MAX_BLOCK_WEIGHT:
        return "bad-blk-weight", False
    return None


def _is_final(locktime: int, sequences: list[int], height: int, cutoff: int) -> bool:
    if locktime == 0:
        return True
    if locktime < (height if locktime < LOCKTIME_THRESHOLD else cutoff):
        return True
    return all(s == 0xFFFFFFFF for s in sequences)


def _check_witness(block: Block, expect_commitment: bool) -> str | None:
    """Core's CheckWitnessMalleation."""
    if expect_commitment and block.witness_commitment() is not None:
        commitment = block.witness_commitment()
        stack = block.txs[0].witnesses[0]
        if len(stack) != 1 or len(stack[0]) != 32:
            return "bad-witness-nonce-size"
        leaves = [b"\x00" * 32] + [tx.wtxid_bytes for tx in block.txs[1:]]
        if hash256(merkle_root(leaves) + stack[0]) != commitment:
            return "bad-witness-merkle-match"
        return None
    if any(tx.has_witness for tx in block.txs):
        return "unexpected-witness"
    return None

