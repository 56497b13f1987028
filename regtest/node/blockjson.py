"""Bitcoin Core's JSON views of blocks and the chain (rpc/blockchain.cpp), shared by RPC and REST.

Field names and order are Core v28's: `blockheaderToJSON`, `blockToJSON` at verbosity 1,
`getblockchaininfo` and `TxToUniv` (core_write.cpp) for getrawtransaction.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from indexer.chain.block import Tx
from indexer.chain.script import OP_0, OP_1, OP_16, ScriptError, tokenize
from regtest.node.chainstate import BlockEntry, Chainstate

_OP_RETURN = 0x6A
_OP_CHECKSIG = 0xAC
_OP_CHECKMULTISIG = 0xAE
_OP_16_PUSH_MAX = 0x60  # opcodes up to OP_16 count as pushes (IsPushOnly)


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


def amount(sat: int) -> Decimal:
    """Core's ValueFromAmount: BTC with exactly 8 decimals (univalue writes them all)."""
    return Decimal(sat).scaleb(-8)


def _is_pubkey(b: bytes) -> bool:
    """CPubKey's size check by the first byte (what Solver's MatchPayToPubkey needs)."""
    return (len(b) == 33 and b[0] in (2, 3)) or (len(b) == 65 and b[0] in (4, 6, 7))


def script_type(spk: bytes) -> str:
    """Core's Solver type name (GetTxnOutputType) for an output script, in Solver's order."""
    n = len(spk)
    if n == 23 and spk[0] == 0xA9 and spk[1] == 0x14 and spk[22] == 0x87:
        return "scripthash"
    if 4 <= n <= 42 and (spk[0] == OP_0 or OP_1 <= spk[0] <= OP_16) and spk[1] + 2 == n:
        version = 0 if spk[0] == OP_0 else spk[0] - OP_1 + 1
        if version == 0:
            return {22: "witness_v0_keyhash", 34: "witness_v0_scripthash"}.get(
                n, "nonstandard")
        if version == 1 and n == 34:
            return "witness_v1_taproot"
        if spk == bytes([OP_1, 0x02, 0x4E, 0x73]):
            return "anchor"
        return "witness_unknown"
    try:
        tokens = tokenize(spk)
    except ScriptError:
        return "nonstandard"
    if n and spk[0] == _OP_RETURN and all(op <= _OP_16_PUSH_MAX for op, _ in tokens[1:]):
        return "nulldata"
    if len(tokens) == 2 and tokens[1] == (_OP_CHECKSIG, None) and tokens[0][1] is not None \
            and _is_pubkey(tokens[0][1]):
        return "pubkey"
    if n == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return "pubkeyhash"
    if len(tokens) >= 4 and tokens[-1] == (_OP_CHECKMULTISIG, None):
        m, keys, k = tokens[0][0], tokens[1:-2], tokens[-2][0]
        if (OP_1 <= m <= OP_16 and OP_1 <= k <= OP_16 and k - OP_1 + 1 == len(keys)
                and m <= k and all(d is not None and _is_pubkey(d) for _, d in keys)):
            return "multisig"
    return "nonstandard"


def tx_json(tx: Tx) -> dict[str, Any]:
    """TxToUniv with include_hex (getrawtransaction verbosity 1), block fields aside.

    NOTE: `asm`, `desc` and `address` are left out of scripts: they need Core's full script
    disassembly and descriptor inference, and the indexer reads only values and hex.
    """
    stripped = len(tx.stripped())
    weight = stripped * 3 + tx.size
    vin: list[dict[str, Any]] = []
    for i, txin in enumerate(tx.inputs):
        item: dict[str, Any] = {}
        if tx.is_coinbase:
            item["coinbase"] = txin.script_sig.hex()
        else:
            item["txid"] = txin.prev_txid_hex
            item["vout"] = txin.prev_vout
            item["scriptSig"] = {"hex": txin.script_sig.hex()}
        if tx.witness(i):
            item["txinwitness"] = [w.hex() for w in tx.witness(i)]
        item["sequence"] = txin.sequence
        vin.append(item)
    return {
        "txid": tx.txid,
        "hash": tx.wtxid,
        "version": tx.version & 0xFFFFFFFF,  # unsigned since Core v27
        "size": tx.size,
        "vsize": (weight + 3) // 4,
        "weight": weight,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": [{"value": amount(out.value), "n": n,
                  "scriptPubKey": {"hex": out.script_pubkey.hex(),
                                   "type": script_type(out.script_pubkey)}}
                 for n, out in enumerate(tx.outputs)],
        "hex": tx.raw.hex(),
    }
