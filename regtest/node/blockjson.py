"""Bitcoin Core's JSON views of blocks and the chain (rpc/blockchain.cpp), shared by RPC and REST.

Field names and order are Core v28's: `blockheaderToJSON`, `blockToJSON` at verbosity 1 and
`getblockchaininfo`.
"""

from __future__ import annotations

from typing import Any

from regtest.node.chainstate import BlockEntry, Chainstate


def difficulty(bits: int) -> float:
    """Core's GetDifficulty: the target of difficulty 1 divided by this block's target."""
    shift = (bits >> 24) & 0xFF
    diff = 0x0000FFFF / (bits & 0x00FFFFFF) if bits & 0x00FFFFFF else float("inf")
    while shift < 29:
        diff *= 256.0
        shift += 1
    while shift > 29:
        diff /= 256.0
        shift -= 1
    return diff


def uint256_hex(n: int) -> str:
    return f"{n:064x}"


def header_json(cs: Chainstate, e: BlockEntry) -> dict[str, Any]:
    """blockheaderToJSON; confirmations is -1 off the active chain."""
    h = e.header
    out: dict[str, Any] = {
        "hash": e.hash,
        "confirmations": cs.confirmations(e),
        "height": e.height,
        "version": h.version,
        "versionHex": f"{h.version & 0xFFFFFFFF:08x}",
        "merkleroot": h.merkle_root,
        "time": h.time,
        "mediantime": e.median_time_past,
        "nonce": h.nonce,
        "bits": f"{h.bits:08x}",
        "difficulty": difficulty(h.bits),
        "chainwork": uint256_hex(e.chainwork),
        "nTx": e.n_tx,
    }
    # NOTE: the header's own prev hash, not the index parent: with --blocks the first block's
    # parent is not served, yet Core would still name it.
    if e.height > 0:
        out["previousblockhash"] = h.prev_hash
    nxt = cs.next_of(e)
    if nxt is not None:
        out["nextblockhash"] = nxt.hash
    return out


def block_json(cs: Chainstate, e: BlockEntry) -> dict[str, Any]:
    """blockToJSON at verbosity 1 (transaction ids only)."""
    out = header_json(cs, e)
    stats = e.stats()
    out["strippedsize"] = stats.stripped_size
    out["size"] = stats.size
    out["weight"] = stats.weight
    out["tx"] = list(stats.txids)
    return out


def blockchain_info(cs: Chainstate) -> dict[str, Any]:
    """getblockchaininfo (v28: `warnings` is a list)."""
    tip = cs.tip
    out: dict[str, Any] = {
        "chain": cs.params.name,
        "blocks": tip.height,
        "headers": tip.height,
        "bestblockhash": tip.hash,
        "difficulty": difficulty(tip.header.bits),
        "time": tip.header.time,
        "mediantime": tip.median_time_past,
        # NOTE: regtest has no chainTxData, so Core reports exactly 1 there; for other chains
        # the test node cannot know the transaction count below --blocks and reports 1 too.
        "verificationprogress": 1.0,
        "initialblockdownload": cs.initial_block_download(),
        "chainwork": uint256_hex(tip.chainwork),
        "size_on_disk": cs.size_on_disk(),
        "pruned": cs.prune_below is not None,
    }
    if cs.prune_below is not None:
        out["pruneheight"] = cs.prune_below
        out["automatic_pruning"] = False  # manual pruning (prune=1), as pruneblockchain uses
    out["warnings"] = []
    return out
