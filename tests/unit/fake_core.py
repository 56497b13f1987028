"""A small in-process stand-in for Bitcoin Core's HTTP server, for node-access tests.

It answers with Core's shapes and status codes (`httprpc.cpp`, `rest.cpp`,
`httpserver.cpp`): 401 with an empty body and `WWW-Authenticate` on bad credentials;
legacy JSON-RPC errors as HTTP 500 (404 for -32601, 400 for -32600) with
`{"result": null, "error": {...}, "id": ...}`; JSON-RPC 2.0 errors as HTTP 200 without
`result`; batches always HTTP 200; `/rest/...` a bare 404 when REST is off; REST errors as
text/plain. Keep-alive HTTP/1.1 like libevent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def make_chain(n: int) -> list[bytes]:
    """`n` fake linked blocks (80-byte header + a few bytes): enough for fetch tests."""
    blocks: list[bytes] = []
    prev = b"\0" * 32
    for height in range(n):
        header = struct.pack("<I32s32sIII", 0x20000000, prev, hashlib.sha256(
            b"m%d" % height).digest(), 1_700_000_000 + height, 0x207FFFFF, height)
        raw = header + b"\x01" + bytes([height % 256]) * 10
        blocks.append(raw)
        prev = hashlib.sha256(hashlib.sha256(header).digest()).digest()
    return blocks


def block_hash(raw: bytes) -> str:
    return hashlib.sha256(hashlib.sha256(raw[:80]).digest()).digest()[::-1].hex()


class FakeTime:
    """A clock that only moves when the code under test sleeps (for backoff checks)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RPCFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class FakeCore:
    user: str = "alice"
    password: str = "s3cret-pw"
    chain: str = "regtest"
    rest: bool = False
    warmup_calls: int = 0          # answer -28 to this many RPC/REST requests first
    busy_calls: int = 0            # answer 503 "Work queue depth exceeded" this many times
    force_v2: bool = False         # answer in JSON-RPC 2.0 shape (no null "error" member)
    drop_next: int = 0             # close the connection without answering, this many times
    pruned: set[str] = field(default_factory=set)
    blocks: list[bytes] = field(default_factory=lambda: make_chain(5))
    calls: list[Any] = field(default_factory=list)    # methods (or lists for batches)
    rest_paths: list[str] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes here (one in libevent): without
                # TCP_NODELAY, Nagle + delayed ACK would add 40 ms to every reply.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with fake._lock:
                    fake.connections += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._post(self)

            def do_GET(self) -> None:
                fake._get(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.port}"

    @property
    def bare_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hashes(self) -> list[str]:
        return [block_hash(b) for b in self.blocks]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- HTTP plumbing ------------------------------------------------------------------

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, body: bytes = b"",
               ctype: str | None = None, extra: dict[str, str] | None = None) -> None:
        h.send_response(status)
        if ctype:
            h.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _take(self, attr: str) -> bool:
        with self._lock:
            n = getattr(self, attr)
            if n > 0:
                setattr(self, attr, n - 1)
                return True
            return False

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length", "0"))
        body = h.rfile.read(length)
        if self._take("drop_next"):
            h.close_connection = True
            h.connection.close()
            return
        if self._take("busy_calls"):
            self._reply(h, 503, b"Work queue depth exceeded")
            return
        auth = h.headers.get("Authorization")
        self.auth_headers.append(auth)
        good = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if auth != good:
            self._reply(h, 401, extra={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
            return
        try:
            req = json.loads(body)
        except ValueError:
            err = {"code": -32700, "message": "Parse error"}
            self._json(h, 500, {"result": None, "error": err, "id": None})
            return
        if isinstance(req, list):
            self.calls.append([r.get("method") for r in req])
            self._json(h, 200, [self._one(r, batch=True)[1] for r in req])
            return
        self.calls.append(req.get("method"))
        status, reply = self._one(req, batch=False)
        self._json(h, status, reply)

    def _json(self, h: BaseHTTPRequestHandler, status: int, obj: Any) -> None:
        self._reply(h, status, (json.dumps(obj) + "\n").encode(), "application/json")

    def _one(self, req: dict[str, Any], *, batch: bool) -> tuple[int, dict[str, Any]]:
        v2 = req.get("jsonrpc") == "2.0" or self.force_v2
        rid = req.get("id")
        try:
            if self._take("warmup_calls"):
                raise RPCFailure(-28, "Loading block index…")
            result = self._dispatch(str(req.get("method")), list(req.get("params") or []))
        except RPCFailure as e:
            err = {"code": e.code, "message": e.message}
            if v2:
                return 200, {"jsonrpc": "2.0", "error": err, "id": rid}
            status = 200 if batch else {-32600: 400, -32601: 404}.get(e.code, 500)
            return status, {"result": None, "error": err, "id": rid}
        if v2:
            return 200, {"jsonrpc": "2.0", "result": result, "id": rid}
        return 200, {"result": result, "error": None, "id": rid}

    # --- RPC methods --------------------------------------------------------------------

    def _index(self, h: str) -> int:
        if not isinstance(h, str) or len(h) != 64:
            raise RPCFailure(-8, "blockhash must be of length 64")
        try:
            return self.hashes.index(h)
        except ValueError:
            raise RPCFailure(-5, "Block not found") from None

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        tip = len(self.blocks) - 1
        if method == "getblockchaininfo":
            return {"chain": self.chain, "blocks": tip, "headers": tip,
                    "bestblockhash": self.hashes[tip], "difficulty": 4.6e-10,
                    "verificationprogress": 1, "pruned": bool(self.pruned)}
        if method == "getblockcount":
            return tip
        if method == "getbestblockhash":
            return self.hashes[tip]
        if method == "getblockhash":
            height = params[0]
            if not isinstance(height, int):
                raise RPCFailure(-3, "JSON value of type string is not of expected type number")
            if height < 0 or height > tip:
                raise RPCFailure(-8, "Block height out of range")
            return self.hashes[height]
        if method == "getblock":
            i = self._index(params[0])
            if self.hashes[i] in self.pruned:
                raise RPCFailure(-1, "Block not available (pruned data)")
            if len(params) > 1 and params[1] == 0:
                return self.blocks[i].hex()
            return {"hash": self.hashes[i], "height": i}
        if method == "getblockheader":
            i = self._index(params[0])
            return {"hash": self.hashes[i], "height": i, "confirmations": tip - i + 1}
        raise RPCFailure(-32601, "Method not found")

    # --- REST -------------------------------------------------------------------------

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        self.rest_paths.append(path)
        if not self.rest or not path.startswith("/rest/"):
            self._reply(h, 404)  # no handler: bare 404, empty body
            return
        if self._take("warmup_calls"):
            self._reply(h, 503, b"Service temporarily unavailable: Loading block index\xe2\x80\xa6"
                        b"\r\n", "text/plain")
            return
        tip = len(self.blocks) - 1

        def err(status: int, msg: str) -> None:
            self._reply(h, status, (msg + "\r\n").encode(), "text/plain")

        if path == "/rest/chaininfo.json":
            self._json(h, 200, {"chain": self.chain, "blocks": tip,
                                "bestblockhash": self.hashes[tip]})
        elif path.startswith("/rest/block/") and path.endswith(".bin"):
            hh = path[len("/rest/block/"):-4]
            if hh not in self.hashes:
                err(404, f"{hh} not found")
            elif hh in self.pruned:
                err(404, f"{hh} not available (pruned data)")
            else:
                self._reply(h, 200, self.blocks[self.hashes.index(hh)],
                            "application/octet-stream")
        elif path.startswith("/rest/blockhashbyheight/") and path.endswith(".bin"):
            height = int(path[len("/rest/blockhashbyheight/"):-4])
            if height > tip:
                err(404, "Block height out of range")
            else:
                self._reply(h, 200, bytes.fromhex(self.hashes[height])[::-1],
                            "application/octet-stream")
        elif path.startswith("/rest/headers/"):
            rest, _, query = path[len("/rest/headers/"):].partition("?")
            hh = rest.removesuffix(".bin")
            count = int(query.removeprefix("count=") or 5)
            start = self.hashes.index(hh) if hh in self.hashes else len(self.blocks)
            body = b"".join(b[:80] for b in self.blocks[start:start + count])
            self._reply(h, 200, body, "application/octet-stream")
        else:
            err(400, "Invalid URI format")
