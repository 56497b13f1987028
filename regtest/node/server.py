"""The HTTP front of the test node and `TestNode`, the handle tests and the CLI use.

Routing follows Core's httpserver.cpp: `/` (exact) and `/wallet/...` go to JSON-RPC, the
REST prefixes to REST when enabled, anything else is a 404 with an empty body. HTTP/1.1
keep-alive is supported (python-bitcoinrpc reuses one connection).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from regtest.node.auth import (
    Credentials,
    cookie_path,
    delete_cookie,
    random_credentials,
    write_cookie,
)
from regtest.node.chainstate import Chainstate
from regtest.node.context import DEFAULT_WARMUP_STATUS, NodeContext
from regtest.node.jsonrpc import handle as handle_jsonrpc
from regtest.node.params import chain_params
from regtest.node.rest import dispatch as dispatch_rest

log = logging.getLogger(__name__)

WWW_AUTH_HEADER_DATA = 'Basic realm="jsonrpc"'


class _Server(ThreadingHTTPServer):
    """A threading server that can cut its open keep-alive connections (node outages)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], node: TestNode) -> None:
        self.node = node
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one write; no Nagle delay on small replies either.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: int, body: bytes = b"", content_type: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        # NOTE: no Server header (libevent sends none), and status line, headers and body
        # leave in one write so small replies are not held back by Nagle's algorithm.
        reason = self.responses.get(status, ("",))[0]
        lines = [f"{self.protocol_version} {status} {reason}",
                 f"Date: {self.date_time_string()}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        if status != 204:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.log_request(status, len(body))
        self.wfile.write(head + body if self.command != "HEAD" else head)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _route(self) -> None:
        node = self.server.node
        body = self._body()
        uri = self.path
        if uri == "/" or uri.startswith("/wallet/"):
            self._rpc(node, body)
            return
        reply = dispatch_rest(node.context, uri)
        if reply is None:
            self._reply(404)
        else:
            self._reply(reply.status, reply.body, reply.content_type)

    def _rpc(self, node: TestNode, body: bytes) -> None:
        if self.command != "POST":
            self._reply(405, b"JSONRPC server handles only POST requests")
            return
        if not node.check_auth(self.headers.get("Authorization")):
            # NOTE: Core sleeps 250 ms here against brute force; tests need not wait.
            self._reply(401, headers={"WWW-Authenticate": WWW_AUTH_HEADER_DATA})
            return
        reply = handle_jsonrpc(node.context, body)
        self._reply(reply.status, reply.body,
                    "application/json" if reply.status != 204 else None)

    do_GET = do_POST = do_HEAD = do_PUT = _route

    def _bad_method(self) -> None:
        self._body()
        self._reply(405)

    do_DELETE = do_OPTIONS = do_PATCH = do_TRACE = do_CONNECT = _bad_method


class TestNode:
    """A Core-compatible node serving one chain over RPC (and REST unless disabled).

    `TestNode(chain="regtest", port=0)` then `.start()` (or use it as a context manager);
    `.url` carries the credentials. `.stop_serving()`/`.start_serving()` simulate an outage
    on the same port; `.set_warmup(...)` switches Core's -28 warm-up answers on and off.
    `txindex=True` runs it like `bitcoind -txindex` (off by default, as in Core).
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, chain: str = "regtest", port: int = 0, *, host: str = "127.0.0.1",
                 blocks: list[bytes] | None = None, start_height: int = 0,
                 rpcuser: str | None = None, rpcpassword: str | None = None,
                 datadir: Path | str | None = None, rest: bool = True,
                 warmup: float = 0.0, prune_below: int | None = None,
                 txindex: bool = False) -> None:
        self.params = chain_params(chain)
        self.chainstate = Chainstate(self.params, blocks, start_height, prune_below,
                                     txindex=txindex)
        self.context = NodeContext(self.chainstate, rest_enabled=rest, on_stop=self._on_rpc_stop)
        if warmup > 0:
            self.context.set_warmup(True, warmup)
        self.host = host
        self.port = port
        self.datadir = Path(datadir) if datadir is not None else None
        self._cookie: Path | None = None
        if rpcpassword is not None:
            # Core generates no cookie when -rpcpassword is set.
            self.credentials = Credentials(rpcuser or "", rpcpassword)
        elif self.datadir is not None:
            self._cookie = cookie_path(self.datadir, self.params.datadir_subdir)
            self.credentials = write_cookie(self._cookie)
        else:
            self.credentials = random_credentials()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopped = threading.Event()  # set once `stop` was called (RPC or Python)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> TestNode:
        self.start_serving()
        return self

    def start_serving(self) -> None:
        """Listen (again) on the node's port; the first start resolves port 0."""
        if self._server is not None:
            return
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        # A short poll interval: stop_serving() waits up to one interval for the loop.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name=f"testnode-{self.port}", daemon=True)
        self._thread.start()

    def stop_serving(self) -> None:
        """Close the listening socket and every open connection; the chain is kept."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()

    def stop(self) -> None:
        self.stop_serving()
        if self._cookie is not None:
            delete_cookie(self._cookie)
        self.stopped.set()

    def _on_rpc_stop(self) -> None:
        # The reply to `stop` must still go out: stop from another thread, after it.
        threading.Timer(0.05, self.stop).start()

    def __enter__(self) -> TestNode:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- state for tests ---------------------------------------------------------------------

    def set_warmup(self, active: bool, seconds: float | None = None,
                   status: str = DEFAULT_WARMUP_STATUS) -> None:
        self.context.set_warmup(active, seconds, status)

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        c = self.credentials
        return f"http://{c.user}:{c.password}@{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL without credentials (for REST, which needs none)."""
        return f"http://{self.host}:{self.port}"

    @property
    def cookie_file(self) -> Path | None:
        return self._cookie

    def check_auth(self, header: str | None) -> bool:
        return self.credentials.check_header(header)
