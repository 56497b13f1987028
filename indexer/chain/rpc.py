"""JSON-RPC client for Bitcoin Core over one keep-alive HTTP/1.1 connection.

Built on python-bitcoinrpc's `AuthServiceProxy` (the project's choice), with what it
lacks for an indexer:

- status-aware responses: it turns every non-JSON answer into code -342 and leaves the
  body unread (the connection is then unusable); we read every body, map 401 to
  `NodeAuthError`, 403 to `NodeForbidden`, 503 ("Work queue depth exceeded") to a retry;
- reconnect after the node drops an idle keep-alive connection (rpcservertimeout);
- retries with capped exponential backoff on connection errors and on RPC error -28;
- batching that works with Core >= 28: its `batch_` reads `response['error']`, which a
  JSON-RPC 2.0 success reply omits (KeyError, jgarzik/python-bitcoinrpc#112); ours sends
  legacy 1.0 objects (Core answers with both `result` and `error`) and reads either shape;
- credentials kept out of URLs, logs, exception messages and reprs.

Not thread-safe: one `RpcClient` per thread (each holds its own connection).
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from bitcoinrpc.authproxy import AuthServiceProxy, EncodeDecimal, JSONRPCException

from indexer.chain.node_errors import (
    InWarmup,
    NodeAuthError,
    NodeForbidden,
    NodeProtocolError,
    NodeUnreachable,
    RPCError,
    rpc_error,
)
from indexer.chain.retry import Attempts, Backoff
from indexer.errors import ConfigError

__all__ = ["Endpoint", "RpcClient", "parse_url", "transient_reason"]

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

USER_AGENT = "lockedbtc"


@dataclass(frozen=True)
class Endpoint:
    """Where the node listens. `url` is for display: it never holds credentials."""

    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.path}"

    def with_port(self, port: int) -> Endpoint:
        return Endpoint(self.scheme, self.host, port, self.path)


@dataclass(frozen=True)
class _Credentials:
    user: str
    password: str

    def __repr__(self) -> str:  # never show the password, even in a debugger dump
        return f"_Credentials(user={self.user!r}, password='***')"

    def header(self) -> bytes:
        pair = f"{self.user}:{self.password}".encode()
        return b"Basic " + base64.b64encode(pair)


def parse_url(url: str) -> tuple[Endpoint, tuple[str, str] | None]:
    """Split `http://user:pass@host:port/path` into the endpoint and the (decoded)
    credentials. Errors name the URL without its credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bad RPC URL {_display(url)}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"bad RPC URL {_display(url)}", "expected http://[USER:PASS@]HOST[:PORT]"
        )
    creds = None
    if parts.username is not None or parts.password is not None:
        # urlsplit leaves percent-escapes in place; a password may need them (@, :, /).
        creds = (unquote(parts.username or ""), unquote(parts.password or ""))
    path = parts.path.rstrip("/")
    return Endpoint(parts.scheme, parts.hostname, port, path), creds


def _display(url: str) -> str:
    # Cut everything up to the last '@' of the authority, so even a malformed URL never
    # echoes a password.
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<url>"
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def transient_reason(exc: BaseException) -> str | None:
    """A short reason when `exc` is a connection-level failure worth retrying, else None."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed by the node"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, BrokenPipeError):
        return "connection closed by the node (broken pipe)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror})"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, http.client.HTTPException):
        return f"HTTP error ({type(exc).__name__})"
    return None


class _Busy(Exception):
    """HTTP 503 from the node's HTTP server: work queue full, or shutting down."""


class _Response:
    """Reads one HTTP response off the connection: always drains the body so the
    keep-alive connection stays usable, then checks what Core answers outside JSON."""

    def __init__(self, conn: http.client.HTTPConnection, endpoint: Endpoint) -> None:
        self._conn = conn
        self._endpoint = endpoint

    def read_json(self) -> Any:
        resp = self._conn.getresponse()
        body = resp.read()
        if resp.status == 401:
            raise NodeAuthError(self._endpoint.url)
        if resp.status == 403:
            raise NodeForbidden(self._endpoint.url)
        if resp.status == 503:
            raise _Busy(body.decode("utf-8", "replace").strip() or "service unavailable")
        ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/json":
            raise NodeProtocolError(
                self._endpoint.url, f"HTTP {resp.status} {resp.reason} without a JSON body"
            )
        try:
            # Floats as Decimal, like AuthServiceProxy: amounts must never go through float.
            return json.loads(body, parse_float=Decimal)
        except ValueError:
            raise NodeProtocolError(self._endpoint.url, "malformed JSON") from None


class _Proxy(AuthServiceProxy):  # type: ignore[misc]
    """AuthServiceProxy whose response handling is `_Response` (status aware) and whose
    Authorization header comes from decoded credentials (it would send percent-escapes
    verbatim). One `_Proxy` per call: the connection is shared, owned by `RpcClient`."""

    def __init__(self, endpoint: Endpoint, method: str, timeout: float,
                 conn: http.client.HTTPConnection, auth_header: bytes) -> None:
        # The URL given to the base class carries a placeholder instead of the real
        # credentials, so no attribute of the proxy holds the password in a URL.
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        port = endpoint.port or 80
        super().__init__(f"{endpoint.scheme}://_:_@{host}:{port}{endpoint.path or '/'}",
                         method, timeout, conn)
        self._AuthServiceProxy__auth_header = auth_header
        self._reader = _Response(conn, endpoint)

    def __repr__(self) -> str:
        return "<_Proxy>"

    def _get_response(self) -> Any:
        return self._reader.read_json()


class RpcClient:
    """Calls Bitcoin Core's JSON-RPC with retries and keep-alive.

    `call` and `batch` retry connection failures, HTTP 503 and RPC error -28 with
    capped exponential backoff until `backoff.budget` seconds have passed, then raise
    `NodeUnreachable` (or the last `InWarmup`). 401 raises `NodeAuthError` at once.
    """

    def __init__(self, endpoint: Endpoint, credentials: tuple[str, str] | None, *,
                 timeout: float = 60.0, backoff: Backoff | None = None) -> None:
        if endpoint.port is None:
            raise ConfigError(f"no port in RPC URL {endpoint.url}")
        self.endpoint = endpoint
        self._creds = _Credentials(*credentials) if credentials else None
        self._auth_header = self._creds.header() if self._creds else b""
        self._timeout = timeout
        self.backoff = backoff or Backoff()
        self._conn: http.client.HTTPConnection | None = None
        self._served = False  # the current connection has answered at least once
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        """The node's URL without credentials."""
        return self.endpoint.url

    def __repr__(self) -> str:
        return f"RpcClient({self.endpoint.url})"

    # --- public calls -----------------------------------------------------------------

    def call(self, method: str, *params: Any) -> Any:
        """One RPC; returns its `result`, raises the mapped `RPCError` on an error."""
        return self._with_retries(lambda: self._call_once(method, params), method)

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Many RPCs in one HTTP request. Results come in call order. If any call fails,
        raises the mapped error of the first failing call, with `.batch_index` set."""
        if not calls:
            return []
        label = f"batch of {len(calls)} {calls[0][0]}"
        return self._with_retries(lambda: self._batch_once(calls), label)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._served = False

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one attempt ------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = (http.client.HTTPSConnection if self.endpoint.scheme == "https"
                   else http.client.HTTPConnection)
            self._conn = cls(self.endpoint.host, self.endpoint.port, timeout=self._timeout)
            self._served = False
        return self._conn

    def _require_auth(self) -> None:
        if self._creds is None:
            raise NodeAuthError(self.endpoint.url, "no credentials (no user:pass, no cookie)")

    def _call_once(self, method: str, params: Sequence[Any]) -> Any:
        self._require_auth()
        conn = self._connection()
        proxy = _Proxy(self.endpoint, method, self._timeout, conn, self._auth_header)
        try:
            result = proxy(*params)
        except JSONRPCException as exc:
            self._served = True
            if exc.code in (-342, -343) or not isinstance(exc.code, int):
                # python-bitcoinrpc's own codes: no HTTP response / no "result" member.
                raise NodeProtocolError(self.endpoint.url, f"{method}: {exc.message}") from None
            raise rpc_error(exc.code, str(exc.message), method) from None
        self._served = True
        return result

    def _batch_once(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        self._require_auth()
        conn = self._connection()
        ids = [next(self._ids) for _ in calls]
        # Legacy (1.0) request objects: every Core version answers them per item with
        # both "result" and "error"; HTTP status is 200 for the batch either way.
        body = json.dumps(
            [{"version": "1.1", "method": m, "params": list(p), "id": i}
             for (m, p), i in zip(calls, ids, strict=True)],
            default=EncodeDecimal,
        )
        conn.request("POST", self.endpoint.path or "/", body, {
            "Host": self.endpoint.host,
            "User-Agent": USER_AGENT,
            "Authorization": self._auth_header.decode("ascii"),
            "Content-Type": "application/json",
        })
        replies = _Response(conn, self.endpoint).read_json()
        self._served = True
        if isinstance(replies, dict) and replies.get("error") is not None:
            # The whole batch was refused (e.g. parse error): one error object.
            err = replies["error"]
            raise rpc_error(int(err.get("code", 0)), str(err.get("message", "")), calls[0][0])
        if not isinstance(replies, list):
            raise NodeProtocolError(self.endpoint.url, "batch answer is not a JSON array")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        results: list[Any] = []
        for index, ((method, _), i) in enumerate(zip(calls, ids, strict=True)):
            reply = by_id.get(i)
            if reply is None:
                raise NodeProtocolError(self.endpoint.url, f"batch answer lacks id {i}")
            err = reply.get("error")
            if err is not None:
                exc = rpc_error(int(err.get("code", 0)), str(err.get("message", "")), method)
                exc.batch_index = index
                raise exc
            if "result" not in reply:
                raise NodeProtocolError(self.endpoint.url, f"batch reply {i} has no result")
            results.append(reply["result"])
        return results

    # --- retries ----------------------------------------------------------------------

    def _with_retries(self, op: Callable[[], _T], what: str) -> _T:
        attempts = self.backoff.start()
        reconnected = False
        while True:
            try:
                return op()
            except InWarmup as exc:
                if not _pause(attempts, self.endpoint.url, exc.message):
                    raise
            except _Busy as exc:
                self.close()
                if not _pause(attempts, self.endpoint.url, f"busy ({exc})"):
                    raise NodeUnreachable(self.endpoint.url, f"HTTP 503 {exc}",
                                          "the node is overloaded; raise rpcworkqueue= or "
                                          "lower lockedbtc's concurrency") from None
            except (RPCError, NodeAuthError, NodeForbidden, NodeProtocolError):
                raise
            except Exception as exc:
                reason = transient_reason(exc)
                if reason is None:
                    raise
                was_served = self._served
                self.close()
                if was_served and not reconnected:
                    # The node closes idle keep-alive connections (rpcservertimeout): the
                    # first failure on a connection that has answered is retried at once.
                    _logger.debug("%s: reconnecting to %s (%s)", what, self.endpoint.url, reason)
                    reconnected = True
                    continue
                if not _pause(attempts, self.endpoint.url, reason):
                    raise NodeUnreachable(self.endpoint.url, reason) from None


def _pause(attempts: Attempts, url: str, reason: str) -> bool:
    """Sleep before the next attempt (logged); False once the retry budget is spent."""
    delay = attempts.next_delay()
    if delay is None:
        return False
    attempts.report(_logger, "node at %s: %s; retrying in %.2f s", url, reason, delay)
    attempts.pause(delay)
    return True
