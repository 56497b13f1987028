"""JSON-RPC over HTTP as Bitcoin Core v28 speaks it (httprpc.cpp, rpc/request.cpp).

- Legacy (no "jsonrpc" or "1.0") single requests: errors are HTTP errors (500; 400 for
  -32600; 404 for -32601) and replies carry both "result" and "error".
- "jsonrpc": "2.0" requests: errors come back with HTTP 200, the null member is omitted, and
  notifications (no "id") get 204 No Content.
- Batches (a JSON array) are always HTTP 200, each element answered on its own terms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from regtest.node.context import NodeContext
from regtest.node.rpcmethods import (
    RPC_INVALID_REQUEST,
    RPC_METHOD_NOT_FOUND,
    RPC_MISC_ERROR,
    RPC_PARSE_ERROR,
    RPCError,
    execute,
)
from regtest.node.univalue import write

_MISSING = object()


@dataclass
class Reply:
    status: int
    body: bytes  # empty for 204


@dataclass
class _Request:
    """Core's JSONRPCRequest; one instance is reused across a batch, as Core does."""

    id: Any = None  # _MISSING when the request has no "id"
    v2: bool = False
    method: str = ""
    params: Any = None

    def parse(self, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise RPCError(RPC_INVALID_REQUEST, "Invalid Request object")
        self.id = obj.get("id", _MISSING)
        self.v2 = False
        version = obj.get("jsonrpc")
        if version is not None:
            if not isinstance(version, str):
                raise RPCError(RPC_INVALID_REQUEST, "jsonrpc field must be a string")
            if version == "2.0":
                self.v2 = True
            elif version != "1.0":
                raise RPCError(RPC_INVALID_REQUEST, "JSON-RPC version not supported")
        method = obj.get("method")
        if method is None:
            raise RPCError(RPC_INVALID_REQUEST, "Missing method")
        if not isinstance(method, str):
            raise RPCError(RPC_INVALID_REQUEST, "Method must be a string")
        self.method = method
        params = obj.get("params")
        if params is None:
            self.params = []
        elif isinstance(params, list | dict):
            self.params = params
        else:
            raise RPCError(RPC_INVALID_REQUEST, "Params must be an array or object")

    @property
    def is_notification(self) -> bool:
        return self.id is _MISSING and self.v2


def reply_obj(result: Any, error: RPCError | None, req: _Request) -> dict[str, Any]:
    """JSONRPCReplyObj: v1 has both members, v2 only the meaningful one."""
    out: dict[str, Any] = {}
    if req.v2:
        out["jsonrpc"] = "2.0"
    if error is None:
        out["result"] = result
        if not req.v2:
            out["error"] = None
    else:
        if not req.v2:
            out["result"] = None
        out["error"] = error.to_json()
    if req.id is not _MISSING:
        out["id"] = req.id
    return out


def _exec_one(ctx: NodeContext, req: _Request, catch_errors: bool) -> dict[str, Any]:
    try:
        result = execute(ctx, req.method, req.params)
    except RPCError as e:
        if not catch_errors:
            raise
        return reply_obj(None, e, req)
    except Exception as e:  # a bug in a method: Core reports std::exception as -1
        if not catch_errors:
            raise RPCError(RPC_MISC_ERROR, str(e)) from e
        return reply_obj(None, RPCError(RPC_MISC_ERROR, str(e)), req)
    return reply_obj(result, None, req)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def handle(ctx: NodeContext, body: bytes) -> Reply:
    """HTTPReq_JSONRPC after authentication: the reply for one POST body."""
    req = _Request()
    try:
        try:
            value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError):
            raise RPCError(RPC_PARSE_ERROR, "Parse error") from None
        if isinstance(value, dict):
            req.parse(value)
            reply: Any = _exec_one(ctx, req, catch_errors=req.v2)
            if req.is_notification:
                return Reply(204, b"")
        elif isinstance(value, list):
            reply = []
            for item in value:
                try:
                    req.parse(item)
                    response = _exec_one(ctx, req, catch_errors=True)
                except RPCError as e:
                    response = reply_obj(None, e, req)
                if not req.is_notification:
                    reply.append(response)
            if not reply and value:
                return Reply(204, b"")
        else:
            raise RPCError(RPC_PARSE_ERROR, "Top-level object parse error")
        return Reply(200, (write(reply) + "\n").encode())
    except RPCError as e:
        status = {RPC_INVALID_REQUEST: 400, RPC_METHOD_NOT_FOUND: 404}.get(e.code, 500)
        return Reply(status, (write(reply_obj(None, e, req)) + "\n").encode())
