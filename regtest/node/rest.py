"""The REST interface (Core's rest.cpp, `rest=1`): blocks, headers, hash by height, chain info.

Statuses and texts are Core v28's: errors are `text/plain` with the message and CRLF.
`/rest/block/<hash>.json` (full transaction details) is not implemented and answers as Core
does for an unsupported format; `/rest/block/notxdetails/<hash>.json` is served.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from regtest.node.blockjson import block_json, blockchain_info, header_json
from regtest.node.chainstate import BlockEntry
from regtest.node.context import NodeContext
from regtest.node.univalue import write

MAX_REST_HEADERS_RESULTS = 2000
_FORMATS = ("bin", "hex", "json")
_AVAILABLE = ".bin, .hex, .json"
_SAFE_CHARS = set(string.ascii_letters + string.digits + " .,;-_/:?@()")


@dataclass
class RestReply:
    status: int
    body: bytes
    content_type: str | None


def _err(status: int, message: str) -> RestReply:
    return RestReply(status, (message + "\r\n").encode(), "text/plain")


def _ok(fmt: str, payload: bytes | str) -> RestReply:
    if fmt == "bin":
        assert isinstance(payload, bytes)
        return RestReply(200, payload, "application/octet-stream")
    assert isinstance(payload, str)
    return RestReply(200, payload.encode(), "text/plain" if fmt == "hex" else "application/json")


def parse_data_format(uri_part: str) -> tuple[str, str]:
    """ParseDataFormat: (param, format); format "" when the suffix is absent or unknown."""
    param = uri_part[:uri_part.rfind("?")] if "?" in uri_part else uri_part
    dot = param.rfind(".")
    if dot >= 0 and param[dot + 1:] in _FORMATS:
        return param[:dot], param[dot + 1:]
    return param, ""


def _parse_hash(s: str) -> str | None:
    if len(s) != 64 or not all(c in string.hexdigits for c in s):
        return None
    return s.lower()


def _query_param(uri: str, key: str) -> str | None:
    values = parse_qs(urlsplit(uri).query, keep_blank_values=True).get(key)
    return values[0] if values else None


def _sanitize(s: str) -> str:
    return "".join(c for c in s if c in _SAFE_CHARS)


def _warmup(ctx: NodeContext) -> RestReply | None:
    status = ctx.warmup_status()
    return _err(503, f"Service temporarily unavailable: {status}") if status else None


def _rest_block(ctx: NodeContext, uri: str, part: str, tx_details: bool) -> RestReply:
    hash_str, fmt = parse_data_format(part)
    block_hash = _parse_hash(hash_str)
    if block_hash is None:
        return _err(400, f"Invalid hash: {hash_str}")
    cs = ctx.chainstate
    with cs.lock:
        entry = cs.lookup(block_hash)
        if entry is None or entry.raw is None:
            return _err(404, f"{hash_str} not found")
        if cs.is_pruned(entry):
            return _err(404, f"{hash_str} not available (pruned data)")
        if fmt == "bin":
            return _ok(fmt, entry.raw)
        if fmt == "hex":
            return _ok(fmt, entry.raw.hex() + "\n")
        if fmt == "json" and not tx_details:
            return _ok(fmt, write(block_json(cs, entry)) + "\n")
    return _err(404, f"output format not found (available: {_AVAILABLE})")


def rest_block(ctx: NodeContext, uri: str, part: str) -> RestReply:
    return _rest_block(ctx, uri, part, tx_details=True)


def rest_block_notxdetails(ctx: NodeContext, uri: str, part: str) -> RestReply:
    return _rest_block(ctx, uri, part, tx_details=False)


def rest_headers(ctx: NodeContext, uri: str, part: str) -> RestReply:
    param, fmt = parse_data_format(part)
    path = param.split("/")
    if len(path) == 2:  # deprecated /rest/headers/<count>/<hash>
        raw_count, hash_str = path
    elif len(path) == 1:  # /rest/headers/<hash>?count=<count>
        hash_str = path[0]
        raw_count = _query_param(uri, "count") or "5"
    else:
        return _err(400, "Invalid URI format. Expected /rest/headers/<hash>.<ext>?count=<count>")
    count = int(raw_count) if raw_count.isdigit() and raw_count.isascii() else 0
    if not 1 <= count <= MAX_REST_HEADERS_RESULTS:
        return _err(400, "Header count is invalid or out of acceptable range "
                    f"(1-{MAX_REST_HEADERS_RESULTS}): {raw_count}")
    block_hash = _parse_hash(hash_str)
    if block_hash is None:
        return _err(400, f"Invalid hash: {hash_str}")
    cs = ctx.chainstate
    with cs.lock:
        headers: list[BlockEntry] = []
        e = cs.lookup(block_hash)
        while e is not None and cs.contains(e) and len(headers) < count:
            headers.append(e)
            e = cs.next_of(e)
        if fmt == "bin":
            return _ok(fmt, b"".join(h.header.raw for h in headers))
        if fmt == "hex":
            return _ok(fmt, b"".join(h.header.raw for h in headers).hex() + "\n")
        if fmt == "json":
            return _ok(fmt, write([header_json(cs, h) for h in headers]) + "\n")
    return _err(404, f"output format not found (available: {_AVAILABLE})")


def rest_blockhash_by_height(ctx: NodeContext, uri: str, part: str) -> RestReply:
    height_str, fmt = parse_data_format(part)
    digits = height_str[1:] if height_str.startswith("+") else height_str
    try:
        height = int(digits, 10) if digits.lstrip("-").isdigit() and digits.isascii() else -1
    except ValueError:
        height = -1
    if height < 0 or height >= 2**31:
        return _err(400, f"Invalid height: {_sanitize(height_str)}")
    cs = ctx.chainstate
    with cs.lock:
        entry = cs.at_height(height)
        if entry is None:
            return _err(404, "Block height out of range")
        block_hash = entry.hash
    if fmt == "bin":
        return _ok(fmt, bytes.fromhex(block_hash)[::-1])
    if fmt == "hex":
        return _ok(fmt, block_hash + "\n")
    if fmt == "json":
        return _ok(fmt, write({"blockhash": block_hash}) + "\n")
    return _err(404, f"output format not found (available: {_AVAILABLE})")


def rest_chaininfo(ctx: NodeContext, uri: str, part: str) -> RestReply:
    _, fmt = parse_data_format(part)
    if fmt != "json":
        return _err(404, "output format not found (available: json)")
    with ctx.chainstate.lock:
        return _ok(fmt, write(blockchain_info(ctx.chainstate)) + "\n")


Handler = Callable[[NodeContext, str, str], RestReply]
#: Core's uri_prefixes, in its order (the first prefix that matches wins).
URI_PREFIXES: list[tuple[str, Handler]] = [
    ("/rest/block/notxdetails/", rest_block_notxdetails),
    ("/rest/block/", rest_block),
    ("/rest/chaininfo", rest_chaininfo),
    ("/rest/headers/", rest_headers),
    ("/rest/blockhashbyheight/", rest_blockhash_by_height),
]


def dispatch(ctx: NodeContext, uri: str) -> RestReply | None:
    """The reply for a REST URI, or None when no REST handler claims it (HTTP 404)."""
    if not ctx.rest_enabled:
        return None
    for prefix, handler in URI_PREFIXES:
        if uri.startswith(prefix):
            return _warmup(ctx) or handler(ctx, uri, uri[len(prefix):])
    return None
