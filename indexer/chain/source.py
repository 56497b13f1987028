"""The block source the sync loop reads from: a Bitcoin Core node over RPC (+ REST).

`connect()` resolves where the node is and how to authenticate (URL credentials, else
the node's cookie file), reads the chain from `getblockchaininfo` (never assumed), and
detects once whether REST is on. Raw blocks come from `/rest/block/<hash>.bin` when it
is, else from one batched `getblock <hash> 0`; hashes by height from one batched
`getblockhash`. Verbose block RPCs (verbosity 2/3) are never used: far too slow.

A node run with `-txindex` can also say what an outpoint held and where it was mined
(`has_txindex`, `outputs_and_heights`): how outputs the indexer only learns about when they
are spent (Babylon phase-2 stakes) get their amount and creation height.

When no URL is given, the contract's default is `http://127.0.0.1:<default port of the
chain>`; since the chain is read from the node, the default ports are probed in turn
(mainnet 8332, testnet3 18332, testnet4 48332, signet 38332, regtest 18443), each with
its own cookie file, and the first that answers is used.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from indexer.chain.amount import btc_to_sat
from indexer.chain.cookie import (
    CHAINS,
    ChainInfo,
    chain_by_name,
    chain_by_port,
    cookie_path,
    default_datadir,
    read_cookie,
)
from indexer.chain.node_errors import (
    BlockUnavailable,
    InvalidAddressOrKey,
    InvalidParameter,
    MethodNotFound,
    MiscError,
    NodeAuthError,
    NodeForbidden,
    NodeProtocolError,
    NodeUnreachable,
)
from indexer.chain.rest import RestClient
from indexer.chain.retry import Backoff
from indexer.chain.rpc import Endpoint, RpcClient, parse_url, transient_reason
from indexer.errors import ConfigError, NodeError

__all__ = ["NodeSource", "connect"]

_logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"


class NodeSource:
    """Tip, hashes and raw blocks from one node. Not thread-safe: one per thread."""

    def __init__(self, rpc: RpcClient, rest: RestClient | None, chain: str) -> None:
        self.rpc = rpc
        self._rest = rest
        self.chain = chain
        self._txindex: bool | None = None  # asked once, on first need

    @property
    def uses_rest(self) -> bool:
        return self._rest is not None

    @property
    def url(self) -> str:
        """The node's RPC URL, without credentials."""
        return self.rpc.url

    def __repr__(self) -> str:
        return f"NodeSource({self.rpc.url}, chain={self.chain}, rest={self.uses_rest})"

    # --- chain state ------------------------------------------------------------------

    def blockchain_info(self) -> dict[str, Any]:
        """`getblockchaininfo` as is (floats as Decimal)."""
        info = self.rpc.call("getblockchaininfo")
        if not isinstance(info, dict):
            raise NodeError(f"getblockchaininfo from {self.rpc.url} is not an object")
        return info

    def tip(self) -> tuple[int, str]:
        """(height, hash) of the node's active tip, read together in one call."""
        info = self.blockchain_info()
        return int(info["blocks"]), str(info["bestblockhash"])

    def best_block_hash(self) -> str:
        return str(self.rpc.call("getbestblockhash"))

    def block_hash(self, height: int) -> str | None:
        """Hash of the active chain's block at `height`; None above the tip."""
        if height < 0:
            raise ValueError(f"negative height {height}")
        if self._rest is not None:
            return self._rest.block_hash(height)
        try:
            return str(self.rpc.call("getblockhash", height))
        except InvalidParameter:  # -8 "Block height out of range"
            return None

    def block_hashes(self, heights: Sequence[int]) -> list[str]:
        """Hashes for `heights`, in one batched `getblockhash`. Every height must be at
        or below the tip (else `InvalidParameter`, with `.batch_index`)."""
        results = self.rpc.batch([("getblockhash", [h]) for h in heights])
        return [str(r) for r in results]

    def header(self, block_hash: str) -> dict[str, Any]:
        """`getblockheader <hash> true`: height, confirmations (-1 off the active chain),
        previousblockhash, ... for any block the node has a header for."""
        result = self.rpc.call("getblockheader", block_hash, True)
        if not isinstance(result, dict):
            raise NodeError(f"getblockheader from {self.rpc.url} is not an object")
        return result

    # --- blocks -----------------------------------------------------------------------

    def raw_blocks(self, hashes: Sequence[str]) -> list[bytes]:
        """Serialized blocks (with witness) for `hashes`, in order. A block the node
        does not hold (pruned, not downloaded, unknown) raises `BlockUnavailable`."""
        if self._rest is not None:
            out: list[bytes] = []
            for h in hashes:
                try:
                    out.append(self._rest.block(h))
                except BlockUnavailable as exc:
                    raise BlockUnavailable(h, self._height_of(h), exc.detail) from None
            return out
        try:
            hexes = self.rpc.batch([("getblock", [h, 0]) for h in hashes])
        except (MiscError, InvalidAddressOrKey) as exc:
            # -1 "Block not available (pruned data)" / "(not fully downloaded)" /
            # "Block not found on disk"; -5 "Block not found".
            h = hashes[exc.batch_index or 0]
            raise BlockUnavailable(h, self._height_of(h), exc.message) from None
        return [bytes.fromhex(x) for x in hexes]

    def _height_of(self, block_hash: str) -> int | None:
        # Only to make an error message say which height; the header outlives pruning.
        try:
            return int(self.header(block_hash)["height"])
        except (NodeError, KeyError, ValueError, TypeError):
            return None

    # --- the transaction index -------------------------------------------------------

    def has_txindex(self) -> bool:
        """Whether the node runs `-txindex` (asked once with `getindexinfo`). A node too old
        for that call, or whose rpcwhitelist forbids it, counts as having none."""
        if self._txindex is None:
            try:
                info = self.rpc.call("getindexinfo", "txindex")
            except (MethodNotFound, NodeForbidden) as exc:
                _logger.info("node %s cannot report its indexes (%s): assuming no -txindex",
                             self.rpc.url, exc)
                info = {}
            self._txindex = isinstance(info, dict) and "txindex" in info
            _logger.info("node %s: txindex %s", self.rpc.url,
                         "on" if self._txindex else "off")
        return self._txindex

    def output_and_height(self, txid: str, vout: int) -> tuple[int, int] | None:
        """`outputs_and_heights` for one outpoint."""
        return self.outputs_and_heights([(txid, vout)])[0]

    def outputs_and_heights(self, outpoints: Sequence[tuple[str, int]]
                            ) -> list[tuple[int, int] | None]:
        """(value in sats, height of the block that mined it) per outpoint, from the
        txindex, in two batched requests (`getrawtransaction` verbose, `getblockheader`).

        None for an outpoint the node cannot place: no txindex, txid unknown to the index
        (or the index still catching up), no such output, or a block off the active chain
        (a stale index entry left by a reorg). Those stay unknown rather than guessed.
        """
        out: list[tuple[int, int] | None] = [None] * len(outpoints)
        if not outpoints or not self.has_txindex():
            return out
        txs = self._verbose_txs(sorted({txid for txid, _ in outpoints}))
        hashes = sorted({str(tx["blockhash"]) for tx in txs.values() if "blockhash" in tx})
        headers = dict(zip(hashes, self.rpc.batch([("getblockheader", [h, True])
                                                   for h in hashes]), strict=True))
        for i, (txid, vout) in enumerate(outpoints):
            tx = txs.get(txid)
            if tx is None or "blockhash" not in tx:
                continue  # unknown, or only in the mempool
            header = headers[str(tx["blockhash"])]
            if int(header.get("confirmations", -1)) < 0:
                _logger.warning("txindex places %s in block %s, which is not in the active "
                                "chain: its amount stays unknown", txid, tx["blockhash"])
                continue
            outs = tx.get("vout")
            if not isinstance(outs, list) or not 0 <= vout < len(outs):
                continue
            try:
                value = btc_to_sat(outs[vout]["value"])
            except (KeyError, TypeError, ValueError) as exc:
                raise NodeProtocolError(self.rpc.url, f"getrawtransaction {txid}: output "
                                        f"{vout} has no valid value ({exc})") from None
            out[i] = (value, int(header["height"]))
        return out

    def _verbose_txs(self, txids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """`getrawtransaction <txid> 1` for each txid the node knows, batched; a txid it
        answers -5 for (not indexed) is left out."""
        found: dict[str, dict[str, Any]] = {}
        todo = list(txids)
        while todo:
            try:
                results = self.rpc.batch([("getrawtransaction", [t, 1]) for t in todo])
            except InvalidAddressOrKey as exc:
                # NOTE: one unknown txid fails the whole batch answer; drop it, ask again.
                k = exc.batch_index or 0
                _logger.info("txindex of %s does not know %s: %s", self.rpc.url, todo[k],
                             exc.message)
                todo.pop(k)
                continue
            for txid, tx in zip(todo, results, strict=True):
                if not isinstance(tx, dict):
                    raise NodeProtocolError(self.rpc.url,
                                            f"getrawtransaction {txid} 1 is not an object")
                found[txid] = tx
            break
        return found

    # --- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        self.rpc.close()
        if self._rest is not None:
            self._rest.close()

    def __enter__(self) -> NodeSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# --- connecting -------------------------------------------------------------------------


def connect(url: str | None, *, cookie_file: Path | None = None, datadir: Path | None = None,
            retry_seconds: float = 30.0, timeout: float = 60.0, use_rest: bool | None = None,
            candidates: Sequence[ChainInfo] = CHAINS,
            sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> NodeSource:
    """Connect to the node at `url` (`http://[user:pass@]host[:port]`; None: the local
    node on the default port of whichever chain answers first).

    Credentials: from the URL, else `cookie_file`, else the cookie of the chain in
    `datadir` (default: Bitcoin Core's default datadir). `use_rest`: None detects,
    False forces RPC only. `candidates`: the (chain, port) pairs probed when the URL
    has no port. `sleep`/`clock` drive the retry backoff (tests inject them).
    Raises `NodeUnreachable`, `NodeAuthError`, `ConfigError` (unknown chain, bad URL).
    """
    backoff = Backoff(budget=retry_seconds, sleep=sleep, clock=clock)
    if url is None:
        endpoint, creds = Endpoint("http", DEFAULT_HOST, None, ""), None
    else:
        endpoint, creds = parse_url(url)

    if endpoint.port is None:
        rpc, info = _probe(endpoint, creds, cookie_file, datadir, candidates, backoff, timeout)
    else:
        rpc, info = _open(endpoint, creds, cookie_file, datadir, backoff, timeout)

    try:
        chain = str(info.get("chain"))
        if chain_by_name(chain) is None:
            raise ConfigError(
                f"the node at {rpc.url} runs chain {chain!r}, which lockedbtc does not know",
                "lockedbtc supports " + ", ".join(c.name for c in CHAINS),
            )
        rest = None
        if use_rest is not False:
            rest = RestClient(rpc.endpoint, timeout=timeout, backoff=backoff)
            if not rest.enabled():
                rest.close()
                rest = None
        _logger.info("node %s: chain %s, tip %s, blocks via %s", rpc.url, chain,
                     info.get("blocks"), "REST" if rest else "RPC (rest=1 on the node is faster)")
        return NodeSource(rpc, rest, chain)
    except BaseException:
        rpc.close()
        raise


def _open(endpoint: Endpoint, creds: tuple[str, str] | None, cookie_file: Path | None,
          datadir: Path | None, backoff: Backoff,
          timeout: float) -> tuple[RpcClient, dict[str, Any]]:
    """The node at an explicit host:port."""
    if creds is not None:
        return _hello(RpcClient(endpoint, creds, timeout=timeout, backoff=backoff))

    assert endpoint.port is not None
    if cookie_file is not None:
        paths = [cookie_file]
    else:
        # The port usually tells the chain; other chains' cookies are fallbacks for a
        # node run with a non-default rpcport.
        base = datadir if datadir is not None else default_datadir()
        by_port = chain_by_port(endpoint.port)
        ordered = ([by_port] if by_port else []) + [c for c in CHAINS if c is not by_port]
        paths = [p for p in (cookie_path(c, base) for c in ordered) if p.exists()]
        if not paths:
            _wait_listening(endpoint, backoff, timeout)
            raise NodeAuthError(endpoint.url, "no user:pass in the URL and no cookie file in "
                                f"{base} (looked for .cookie of every chain)")
    last: NodeAuthError | None = None
    for path in paths:
        rpc = RpcClient(endpoint, read_cookie(path), timeout=timeout, backoff=backoff)
        try:
            return _hello(rpc)
        except NodeAuthError as exc:
            rpc.close()
            last = exc
            _logger.info("cookie %s not accepted by %s", path, endpoint.url)
    assert last is not None
    tried = ", ".join(str(p) for p in paths)
    raise NodeAuthError(endpoint.url, f"cookie file(s) {tried} not accepted (stale cookie "
                        "from another node or chain?)") from None


def _probe(endpoint: Endpoint, creds: tuple[str, str] | None, cookie_file: Path | None,
           datadir: Path | None, candidates: Sequence[ChainInfo], backoff: Backoff,
           timeout: float) -> tuple[RpcClient, dict[str, Any]]:
    """The first of the default ports that accepts a connection, in `candidates` order."""
    attempts = backoff.start()
    while True:
        tried: list[str] = []
        for chain in candidates:
            ep = endpoint.with_port(chain.rpc_port)
            reason = _connect_error(ep, min(timeout, 5.0))
            if reason is not None:
                tried.append(f"{chain.rpc_port} ({chain.name}): {reason}")
                continue
            _logger.info("found a node at %s (default port of %s)", ep.url, chain.name)
            if creds is not None:
                return _hello(RpcClient(ep, creds, timeout=timeout, backoff=backoff))
            path = cookie_file or cookie_path(chain, datadir)
            if not path.exists():
                raise NodeAuthError(ep.url, f"no user:pass in the URL and no cookie file at "
                                    f"{path}")
            rpc = RpcClient(ep, read_cookie(path), timeout=timeout, backoff=backoff)
            try:
                return _hello(rpc)
            except NodeAuthError:
                rpc.close()
                raise NodeAuthError(ep.url, f"cookie file {path} not accepted") from None
        delay = attempts.next_delay()
        if delay is None:
            raise NodeUnreachable(
                endpoint.url, "nothing answers on the default RPC ports: " + "; ".join(tried),
                "start bitcoind, or give --rpc http://USER:PASS@HOST:PORT",
            )
        attempts.report(_logger, "no node on %s yet; retrying in %.2f s", endpoint.url, delay)
        attempts.pause(delay)


def _hello(rpc: RpcClient) -> tuple[RpcClient, dict[str, Any]]:
    try:
        info = rpc.call("getblockchaininfo")
    except BaseException:
        rpc.close()
        raise
    if not isinstance(info, dict):
        rpc.close()
        raise NodeError(f"getblockchaininfo from {rpc.url} is not an object")
    return rpc, info


def _connect_error(endpoint: Endpoint, timeout: float) -> str | None:
    """None when a TCP connection to `endpoint` succeeds, else the reason."""
    assert endpoint.port is not None
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
            return None
    except OSError as exc:
        return transient_reason(exc) or str(exc)


def _wait_listening(endpoint: Endpoint, backoff: Backoff, timeout: float) -> None:
    attempts = backoff.start()
    while (reason := _connect_error(endpoint, min(timeout, 5.0))) is not None:
        delay = attempts.next_delay()
        if delay is None:
            raise NodeUnreachable(endpoint.url, reason)
        attempts.pause(delay)
