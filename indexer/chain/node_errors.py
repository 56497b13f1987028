"""Errors raised while talking to the Bitcoin node (RPC and REST).

Bitcoin Core's JSON-RPC error codes (`src/rpc/protocol.h`) map to one exception class
each, looked up by code in a registry (the pattern of python-bitcoinlib's
`JSONRPCError._register_subcls`), so callers can `except InvalidAddressOrKey` rather than
compare numbers. Every class is a `NodeError`: an operator-facing error, one line with a
fix. Messages never carry credentials: URLs pass through `redact()` before they get here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from indexer.errors import NodeError, redact

__all__ = [
    "BlockPruned",
    "BlockUnavailable",
    "ClientInInitialDownload",
    "ClientNotConnected",
    "DatabaseError",
    "DeserializationError",
    "InWarmup",
    "InternalError",
    "InvalidAddressOrKey",
    "InvalidParameter",
    "InvalidParams",
    "InvalidRequest",
    "MethodDeprecated",
    "MethodNotFound",
    "MiscError",
    "NodeAuthError",
    "NodeForbidden",
    "NodeProtocolError",
    "NodeUnreachable",
    "OutOfMemory",
    "ParseError",
    "RPCError",
    "RPCTypeError",
    "RestError",
    "VerifyAlreadyInChain",
    "VerifyError",
    "VerifyRejected",
    "WalletError",
    "WalletNotFound",
    "WalletNotSpecified",
    "rpc_error",
]


class NodeUnreachable(NodeError):
    """No answer from the node within the retry budget (refused, reset, timed out, busy)."""

    def __init__(self, url: str, reason: str, hint: str = "") -> None:
        self.url = redact(url)
        self.reason = reason
        super().__init__(
            f"cannot reach the Bitcoin node at {self.url} ({reason})",
            hint
            or "is bitcoind running, and does --rpc / LOCKEDBTC_RPC point at its RPC port?",
        )


class NodeAuthError(NodeError):
    """HTTP 401: wrong or missing credentials. Never retried."""

    def __init__(self, url: str, detail: str = "") -> None:
        self.url = redact(url)
        summary = f"the node rejected the RPC credentials ({self.url})"
        if detail:
            summary = f"{summary}: {detail}"
        super().__init__(
            summary,
            "check rpcuser/rpcpassword in --rpc http://USER:PASS@HOST:PORT, or let lockedbtc "
            "read the node's .cookie file (--datadir / cookie file of the node's chain)",
        )


class NodeForbidden(NodeError):
    """HTTP 403: our address is not in rpcallowip, or rpcwhitelist forbids the method."""

    def __init__(self, url: str, what: str = "") -> None:
        self.url = redact(url)
        suffix = f" {what}" if what else ""
        super().__init__(
            f"the node at {self.url} refused the request{suffix} (HTTP 403 Forbidden)",
            "allow this host with rpcallowip=, and if rpcwhitelist= is set, allow "
            "getblockchaininfo, getbestblockhash, getblockhash, getblock, getblockheader "
            "(and getindexinfo, getrawtransaction on a -txindex node)",
        )


class NodeProtocolError(NodeError):
    """The node answered something that is not what Bitcoin Core answers."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = redact(url)
        super().__init__(
            f"unexpected answer from {self.url}: {detail}",
            "is this the RPC port of Bitcoin Core (not the P2P port or a proxy)?",
        )


class RestError(NodeError):
    """The REST interface answered with an error status we do not expect."""

    def __init__(self, url: str, status: int, body: str) -> None:
        self.url = redact(url)
        self.status = status
        self.body = body
        super().__init__(f"REST request {self.url} failed: HTTP {status} {body}".rstrip())


class BlockUnavailable(NodeError):
    """The node knows no block data for this hash: pruned, not yet downloaded, or unknown."""

    def __init__(self, block_hash: str, height: int | None = None, detail: str = "") -> None:
        self.block_hash = block_hash
        self.height = height
        self.detail = detail
        where = f"block {height} ({block_hash})" if height is not None else f"block {block_hash}"
        reason = f": {detail}" if detail else ""
        super().__init__(
            f"{where} is not available on the node (pruned?){reason}",
            "a pruned node only keeps recent blocks: index from a height the node still has, "
            "or run the node with prune=0 (or a larger prune size) and let it re-download",
        )


# --- JSON-RPC error codes -----------------------------------------------------------------

_BY_CODE: dict[int, type[RPCError]] = {}

_E = TypeVar("_E", bound="RPCError")


def _register(code: int) -> Callable[[type[_E]], type[_E]]:
    def deco(cls: type[_E]) -> type[_E]:
        cls.rpc_code = code
        _BY_CODE[code] = cls
        return cls

    return deco


class RPCError(NodeError):
    """A JSON-RPC error object `{"code": ..., "message": ...}` answered by the node."""

    rpc_code: ClassVar[int | None] = None
    default_hint: ClassVar[str] = ""

    def __init__(self, code: int, message: str, method: str | None = None) -> None:
        self.code = code
        self.message = message
        self.method = method
        # Set by `RpcClient.batch`: which call of the batch failed.
        self.batch_index: int | None = None
        what = f"{method}: " if method else ""
        super().__init__(f"the node answered {what}{message} (RPC error {code})",
                         self.default_hint)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"


@_register(-1)
class MiscError(RPCError):
    """RPC_MISC_ERROR: std::exception thrown in command handling."""


class BlockPruned(MiscError):
    """-1 "Block not available (pruned data)" (getblock on a pruned node)."""

    default_hint = "the node pruned this block: index from a height it still has, or unprune it"


@_register(-3)
class RPCTypeError(RPCError):
    """RPC_TYPE_ERROR: unexpected type was passed as parameter."""


@_register(-4)
class WalletError(RPCError):
    """RPC_WALLET_ERROR."""


@_register(-5)
class InvalidAddressOrKey(RPCError):
    """RPC_INVALID_ADDRESS_OR_KEY: also "Block not found" / "Block header not found"."""


@_register(-7)
class OutOfMemory(RPCError):
    """RPC_OUT_OF_MEMORY."""


@_register(-8)
class InvalidParameter(RPCError):
    """RPC_INVALID_PARAMETER: also "Block height out of range"."""


@_register(-9)
class ClientNotConnected(RPCError):
    """RPC_CLIENT_NOT_CONNECTED."""


@_register(-10)
class ClientInInitialDownload(RPCError):
    """RPC_CLIENT_IN_INITIAL_DOWNLOAD."""


@_register(-18)
class WalletNotFound(RPCError):
    """RPC_WALLET_NOT_FOUND."""


@_register(-19)
class WalletNotSpecified(RPCError):
    """RPC_WALLET_NOT_SPECIFIED."""


@_register(-20)
class DatabaseError(RPCError):
    """RPC_DATABASE_ERROR."""


@_register(-22)
class DeserializationError(RPCError):
    """RPC_DESERIALIZATION_ERROR: error parsing or validating structure in raw format."""


@_register(-25)
class VerifyError(RPCError):
    """RPC_VERIFY_ERROR: general error during transaction or block submission."""


@_register(-26)
class VerifyRejected(RPCError):
    """RPC_VERIFY_REJECTED: rejected by network rules."""


@_register(-27)
class VerifyAlreadyInChain(RPCError):
    """RPC_VERIFY_ALREADY_IN_CHAIN."""


@_register(-28)
class InWarmup(RPCError):
    """RPC_IN_WARMUP: the node is still loading (block index, wallet, ...). Retried."""

    default_hint = "the node is still starting up; try again when it has finished loading"


@_register(-32)
class MethodDeprecated(RPCError):
    """RPC_METHOD_DEPRECATED."""


@_register(-32600)
class InvalidRequest(RPCError):
    """RPC_INVALID_REQUEST (HTTP 400 for a legacy request)."""


@_register(-32601)
class MethodNotFound(RPCError):
    """RPC_METHOD_NOT_FOUND (HTTP 404 for a legacy request)."""

    default_hint = "the node is older than lockedbtc needs (or this is not Bitcoin Core)"


@_register(-32602)
class InvalidParams(RPCError):
    """RPC_INVALID_PARAMS."""


@_register(-32603)
class InternalError(RPCError):
    """RPC_INTERNAL_ERROR."""


@_register(-32700)
class ParseError(RPCError):
    """RPC_PARSE_ERROR."""


def rpc_error(code: int, message: str, method: str | None = None) -> RPCError:
    """The exception for a JSON-RPC error object, by code (and message where one code
    covers distinct conditions the caller must tell apart)."""
    cls: type[RPCError] = _BY_CODE.get(code, RPCError)
    if code == -1 and "pruned data" in message:
        cls = BlockPruned
    return cls(code, message, method)
