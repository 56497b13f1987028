"""The RPC methods the test node answers, with Core v28's argument rules and errors.

Each method declares its arguments like Core's RPCHelpMan so that wrong argument counts
give -1 with the help text, wrong JSON types give -3 "Wrong type passed", and named
arguments map to positions as in Core's transformNamedArguments.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from indexer.chain.block import Block, ParseError, Tx, parse_block
from regtest.build import compact_size
from regtest.node.blockjson import block_json, blockchain_info, header_json, tx_json
from regtest.node.chainstate import BlockEntry
from regtest.node.context import NodeContext
from regtest.node.univalue import write_pretty

# rpc/protocol.h
RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_DESERIALIZATION_ERROR = -22
RPC_IN_WARMUP = -28
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_PARSE_ERROR = -32700

CLIENT_VERSION = 280000
SUBVERSION = "/Satoshi:28.0.0/"
PROTOCOL_VERSION = 70016


class RPCError(Exception):
    """A JSON-RPC error object {code, message}, as Core's JSONRPCError."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Arg:
    names: str  # "verbosity|verbose": Core's alias syntax
    type: str  # "number", "string", "bool" or "" (no type check)
    required: bool
    doc: str


@dataclass(frozen=True)
class Method:
    name: str
    args: tuple[Arg, ...]
    description: str
    handler: Callable[[NodeContext, list[Any]], Any]

    def help(self) -> str:
        """Help text in Core's layout (name and arguments first, as the -1 error shows)."""
        sig = " ".join(a.names.split("|")[0] if a.required else f"( {a.names.split('|')[0]} )"
                       for a in self.args)
        text = f"{self.name} {sig}".rstrip() + f"\n\n{self.description}\n"
        if self.args:
            text += "\nArguments:\n"
            for i, a in enumerate(self.args, 1):
                kind = {"number": "numeric", "string": "string", "bool": "boolean"}.get(
                    a.type, "numeric or boolean")
                need = "required" if a.required else "optional"
                text += f"{i}. {a.names.split('|')[0]}    ({kind}, {need}) {a.doc}\n"
        return text


def _uv_type(v: Any) -> str:
    """UniValue's uvTypeName for a decoded JSON value."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float | Decimal):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "object"
    return "array"


def get_int(v: Any) -> int:
    """UniValue::getInt<int>: the only conversions Core allows (errors become -1)."""
    if _uv_type(v) != "number":
        raise RPCError(RPC_MISC_ERROR,
                       f"JSON value of type {_uv_type(v)} is not of expected type number")
    if not isinstance(v, int) or not -(2**31) <= v < 2**31:
        raise RPCError(RPC_MISC_ERROR, "JSON integer out of range")
    return v


def parse_hash(v: Any, name: str) -> str:
    """Core's ParseHashV."""
    s = str(v)
    if len(s) != 64:
        raise RPCError(RPC_INVALID_PARAMETER,
                       f"{name} must be of length 64 (not {len(s)}, for '{s}')")
    if not all(c in string.hexdigits for c in s):
        raise RPCError(RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{s}')")
    return s.lower()


def positional(method: Method, params: list[Any] | dict[str, Any]) -> list[Any]:
    """Named arguments to positions (transformNamedArguments), then Core's arg checks."""
    if isinstance(params, dict):
        args_in = dict(params)
        out: list[Any] = []
        for i, arg in enumerate(method.args):
            found = [n for n in arg.names.split("|") if n in args_in]
            if len(found) > 1:
                raise RPCError(RPC_INVALID_PARAMETER,
                               f"Parameter {found[1]} specified multiple times")
            if found:
                while len(out) < i:
                    out.append(None)
                out.append(args_in.pop(found[0]))
        if args_in:
            raise RPCError(RPC_INVALID_PARAMETER, f"Unknown named parameter {min(args_in)}")
        params = out
    required = max((i + 1 for i, a in enumerate(method.args) if a.required), default=0)
    if not required <= len(params) <= len(method.args):
        # Core throws the help text as a plain exception, which the dispatcher turns into -1.
        raise RPCError(RPC_MISC_ERROR, method.help())
    mismatch: dict[str, str] = {}
    for i, arg in enumerate(method.args):
        v = params[i] if i < len(params) else None
        if not arg.type or (not arg.required and v is None):
            continue
        if _uv_type(v) != arg.type:
            mismatch[f"Position {i + 1} ({arg.names})"] = (
                f"JSON value of type {_uv_type(v)} is not of expected type {arg.type}")
    if mismatch:
        raise RPCError(RPC_TYPE_ERROR, f"Wrong type passed:\n{write_pretty(mismatch)}")
    return list(params)


# -- blockchain --------------------------------------------------------------------------------


def _getblockchaininfo(ctx: NodeContext, p: list[Any]) -> Any:
    with ctx.chainstate.lock:
        return blockchain_info(ctx.chainstate)


def _getblockcount(ctx: NodeContext, p: list[Any]) -> Any:
    return ctx.chainstate.height


def _getbestblockhash(ctx: NodeContext, p: list[Any]) -> Any:
    return ctx.chainstate.tip.hash


def _getblockhash(ctx: NodeContext, p: list[Any]) -> Any:
    height = get_int(p[0])
    entry = ctx.chainstate.at_height(height)
    if entry is None:
        raise RPCError(RPC_INVALID_PARAMETER, "Block height out of range")
    return entry.hash


def _getblockheader(ctx: NodeContext, p: list[Any]) -> Any:
    block_hash = parse_hash(p[0], "hash")
    verbose = True if len(p) < 2 or p[1] is None else bool(p[1])
    cs = ctx.chainstate
    with cs.lock:
        entry = cs.lookup(block_hash)
        if entry is None:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        return header_json(cs, entry) if verbose else entry.header.raw.hex()


def _getblock(ctx: NodeContext, p: list[Any]) -> Any:
    block_hash = parse_hash(p[0], "blockhash")
    verbosity = 1
    if len(p) > 1 and p[1] is not None:
        verbosity = (1 if p[1] else 0) if isinstance(p[1], bool) else get_int(p[1])
    cs = ctx.chainstate
    with cs.lock:
        entry = cs.lookup(block_hash)
        if entry is None:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        if cs.is_pruned(entry):
            raise RPCError(RPC_MISC_ERROR, "Block not available (pruned data)")
        if entry.raw is None:
            raise RPCError(RPC_MISC_ERROR, "Block not available (not fully downloaded)")
        if verbosity <= 0:
            return entry.raw.hex()
        if verbosity == 1:
            return block_json(cs, entry)
    # NOTE: verbosity 2/3 need full script decoding (asm, descriptors, addresses); the indexer
    # never asks for them (they are 20-60x slower on Core), so the test node says so plainly.
    raise RPCError(RPC_INVALID_PARAMETER,
                   "The test node serves getblock verbosity 0 and 1 only (asked for "
                   f"{verbosity})")


def decode_block(hexdata: str) -> Block:
    """Core's DecodeHexBlk: hex check, then deserialise; trailing bytes are ignored."""
    if not hexdata or len(hexdata) % 2 or not all(c in string.hexdigits for c in hexdata):
        raise RPCError(RPC_DESERIALIZATION_ERROR, "Block decode failed")
    raw = bytes.fromhex(hexdata)
    try:
        return parse_block(raw)
    except ParseError as e:
        if "trailing bytes" in e.reason:
            return parse_block(raw[:e.offset])
        if e.reason == "block has no transactions" and len(raw) == 81:
            raise RPCError(RPC_DESERIALIZATION_ERROR,
                           "Block does not start with a coinbase") from None
        raise RPCError(RPC_DESERIALIZATION_ERROR, "Block decode failed") from None


def _with_coinbase_nonce(block: Block) -> Block:
    """Core's UpdateUncommittedBlockStructures: a committed block whose coinbase lacks the
    witness reserved value gets the default (32 zero bytes) added before validation."""
    cb = block.txs[0]
    if cb.has_witness or block.witness_commitment() is None:
        return block
    base = cb.stripped()
    new_cb = base[:4] + b"\x00\x01" + base[4:-4] + b"\x01\x20" + b"\x00" * 32 + base[-4:]
    start = 80 + len(compact_size(len(block.txs)))
    raw = block.raw[:start] + new_cb + block.raw[start + cb.size:]
    return parse_block(raw)


def _submitblock(ctx: NodeContext, p: list[Any]) -> Any:
    block = decode_block(p[0])
    if not block.txs or not block.txs[0].is_coinbase:
        raise RPCError(RPC_DESERIALIZATION_ERROR, "Block does not start with a coinbase")
    cs = ctx.chainstate
    with cs.lock:
        parent = cs.lookup(block.prev_hash)
        if parent is not None and parent.height + 1 >= cs.params.segwit_height:
            block = _with_coinbase_nonce(block)
        return cs.submit(block)


def _invalidateblock(ctx: NodeContext, p: list[Any]) -> Any:
    if not ctx.chainstate.invalidate(parse_hash(p[0], "blockhash")):
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    return None


def _reconsiderblock(ctx: NodeContext, p: list[Any]) -> Any:
    if not ctx.chainstate.reconsider(parse_hash(p[0], "blockhash")):
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    return None


# -- transactions and indexes ------------------------------------------------------------------


def _getindexinfo(ctx: NodeContext, p: list[Any]) -> Any:
    """Core's getindexinfo: one entry per running index, filtered by `index_name`."""
    cs = ctx.chainstate
    name = "" if not p or p[0] is None else str(p[0])
    if cs.txindex is None or name not in ("", "txindex"):
        return {}
    # NOTE: the test node indexes each block as it connects it, so the index is always
    # synced to the tip (Core's is too once its background sync has caught up).
    return {"txindex": {"synced": True, "best_block_height": cs.height}}


def _find_in_block(entry: BlockEntry, txid: str) -> Tx | None:
    assert entry.raw is not None
    if txid not in entry.stats().txids:
        return None
    return next(tx for tx in parse_block(entry.raw).txs if tx.txid == txid)


def _getrawtransaction(ctx: NodeContext, p: list[Any]) -> Any:
    """Core's getrawtransaction at verbosity 0 and 1 (the test node has no mempool)."""
    txid = parse_hash(p[0], "parameter 1")
    cs = ctx.chainstate
    if txid == cs.params.genesis_merkle_root:
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "The genesis block coinbase is not "
                       "considered an ordinary transaction and cannot be retrieved")
    verbosity = 0
    if len(p) > 1 and p[1] is not None:
        verbosity = int(p[1]) if isinstance(p[1], bool) else get_int(p[1])
    given: BlockEntry | None = None
    if len(p) > 2 and p[2] is not None:
        given = cs.lookup(parse_hash(p[2], "parameter 3"))
        if given is None:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found")
    tx: Tx | None = None
    where: BlockEntry | None = None
    if given is not None:
        if given.raw is None or cs.is_pruned(given):
            raise RPCError(RPC_MISC_ERROR, "Block not available")
        tx, where = _find_in_block(given, txid), given
        missing = "No such transaction found in the provided block"
    elif cs.txindex is None:
        missing = ("No such mempool transaction. Use -txindex or provide a block hash to "
                   "enable blockchain transaction queries")
    else:
        where = cs.txindex.get(txid)
        tx = None if where is None else _find_in_block(where, txid)
        missing = "No such mempool or blockchain transaction"
    if tx is None or where is None:
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY,
                       missing + ". Use gettransaction for wallet transactions.")
    if verbosity <= 0:
        return tx.raw.hex()
    if verbosity >= 2:
        # NOTE: verbosity 2 adds fee and prevouts from the block's undo data, which the
        # test node does not keep; the indexer never asks for it.
        raise RPCError(RPC_INVALID_PARAMETER, "The test node serves getrawtransaction "
                       f"verbosity 0 and 1 only (asked for {verbosity})")
    out: dict[str, Any] = {}
    if given is not None:
        out["in_active_chain"] = cs.contains(given)
    out.update(tx_json(tx))
    out["blockhash"] = where.hash
    if cs.contains(where):
        out["confirmations"] = cs.confirmations(where)
        out["time"] = where.header.time
        out["blocktime"] = where.header.time
    else:
        out["confirmations"] = 0
    return out


# -- control and network -----------------------------------------------------------------------


def _getnetworkinfo(ctx: NodeContext, p: list[Any]) -> Any:
    def net(name: str, reachable: bool) -> dict[str, Any]:
        return {"name": name, "limited": not reachable, "reachable": reachable, "proxy": "",
                "proxy_randomize_credentials": False}

    return {
        "version": CLIENT_VERSION,
        "subversion": SUBVERSION,
        "protocolversion": PROTOCOL_VERSION,
        "localservices": "0000000000000c09",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
        "localrelay": True,
        "timeoffset": 0,
        "networkactive": True,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [net("ipv4", True), net("ipv6", True), net("onion", False),
                     net("i2p", False), net("cjdns", False)],
        "relayfee": Decimal("0.00001"),
        "incrementalfee": Decimal("0.00001"),
        "localaddresses": [],
        "warnings": [],
    }


def _uptime(ctx: NodeContext, p: list[Any]) -> Any:
    import time

    return int(time.time() - ctx.started_at)


def _stop(ctx: NodeContext, p: list[Any]) -> Any:
    ctx.on_stop()
    return "Bitcoin Core stopping"


def _help(ctx: NodeContext, p: list[Any]) -> Any:
    if p and p[0] is not None:
        m = METHODS.get(str(p[0]))
        return m.help() if m else f"help: unknown command: {p[0]}\n"
    return "\n".join(m.help().split("\n", 1)[0] for m in sorted(METHODS.values(),
                                                               key=lambda m: m.name))


_HASH_DOC = "The block hash"
METHODS: dict[str, Method] = {m.name: m for m in [
    Method("getblockchaininfo", (), "Returns an object containing various state info "
           "regarding blockchain processing.", _getblockchaininfo),
    Method("getblockcount", (), "Returns the height of the most-work fully-validated chain.",
           _getblockcount),
    Method("getbestblockhash", (), "Returns the hash of the best (tip) block in the "
           "most-work fully-validated chain.", _getbestblockhash),
    Method("getblockhash", (Arg("height", "number", True, "The height index"),),
           "Returns hash of block in best-block-chain at height provided.", _getblockhash),
    Method("getblockheader", (Arg("blockhash", "string", True, _HASH_DOC),
                              Arg("verbose", "bool", False, "true for a json object, false "
                                  "for the hex-encoded data")),
           "If verbose is false, returns a string that is serialized, hex-encoded data for "
           "blockheader 'hash'.\nIf verbose is true, returns an Object with information "
           "about blockheader <hash>.", _getblockheader),
    Method("getblock", (Arg("blockhash", "string", True, _HASH_DOC),
                        Arg("verbosity|verbose", "", False, "0 for hex-encoded data, 1 for a "
                            "JSON object, 2 for JSON object with transaction data, and 3 for "
                            "JSON object with transaction data including prevout information "
                            "for inputs")),
           "If verbosity is 0, returns a string that is serialized, hex-encoded data for "
           "block 'hash'.\nIf verbosity is 1, returns an Object with information about "
           "block <hash>.", _getblock),
    Method("getrawtransaction", (
        Arg("txid", "string", True, "The transaction id"),
        Arg("verbosity|verbose", "", False, "0 for hex-encoded data, 1 for a JSON object, "
            "and 2 for JSON object with fee and prevout"),
        Arg("blockhash", "string", False, "The block in which to look for the "
            "transaction")),
           "By default, this call only returns a transaction if it is in the mempool. If "
           "-txindex is enabled\nand no blockhash argument is passed, it will return the "
           "transaction if it is in the mempool or any block.\nIf a blockhash argument is "
           "passed, it will return the transaction if\nthe specified block is available and "
           "the transaction is in that block.", _getrawtransaction),
    Method("getindexinfo", (Arg("index_name", "string", False, "Filter results for an "
                                "index with a specific name."),),
           "Returns the status of one or all available indices currently running in the "
           "node.", _getindexinfo),
    Method("submitblock", (Arg("hexdata", "string", True, "the hex-encoded block data to "
                               "submit"),
                           Arg("dummy", "string", False, "dummy value, for compatibility "
                               "with BIP22. This value is ignored.")),
           "Attempts to submit new block to network.\nSee https://en.bitcoin.it/wiki/"
           "BIP_0022 for full specification.", _submitblock),
    Method("invalidateblock", (Arg("blockhash", "string", True, "the hash of the block to "
                                   "mark as invalid"),),
           "Permanently marks a block as invalid, as if it violated a consensus rule.",
           _invalidateblock),
    Method("reconsiderblock", (Arg("blockhash", "string", True, "the hash of the block to "
                                   "reconsider"),),
           "Removes invalidity status of a block, its ancestors and its descendants, "
           "reconsider them for activation.\nThis can be used to undo the effects of "
           "invalidateblock.", _reconsiderblock),
    Method("getnetworkinfo", (), "Returns an object containing various state info "
           "regarding P2P networking.", _getnetworkinfo),
    Method("uptime", (), "Returns the total uptime of the server.", _uptime),
    Method("stop", (Arg("wait", "number", False, "how long to wait in ms"),),
           "Request a graceful shutdown of Bitcoin Core.", _stop),
    Method("help", (Arg("command", "string", False, "The command to get help on"),),
           "List all commands, or get help for a specified command.", _help),
]}


def execute(ctx: NodeContext, method: str, params: list[Any] | dict[str, Any]) -> Any:
    """CRPCTable::execute: warm-up first, then the method (unknown → -32601)."""
    status = ctx.warmup_status()
    if status is not None:
        raise RPCError(RPC_IN_WARMUP, status)
    m = METHODS.get(method)
    if m is None:
        raise RPCError(RPC_METHOD_NOT_FOUND, "Method not found")
    # One lock for the whole call: a method sees one consistent chain, as under cs_main.
    with ctx.chainstate.lock:
        return m.handler(ctx, positional(m, params))
