"""Bitcoin Core's REST interface (`-rest=1`), on the same host and port as RPC.

REST needs no credentials and serves raw blocks as bytes (`/rest/block/<hash>.bin`),
several times faster than hex inside JSON-RPC. Whether it is on is detected once:

- enabled: `GET /rest/chaininfo.json` answers 200 with JSON;
- disabled (`rest=0`, the default): Core has no handler for `/rest/...`, and its HTTP
  server answers every unhandled path with a bare 404 and an empty body
  (`httpserver.cpp` http_request_cb). A REST handler's own 404 always has a text body
  ("<hash> not found", "Block height out of range").

While the node warms up, REST answers 503 "Service temporarily unavailable: ..."; that,
a full work queue (503) and connection errors are retried like RPC.
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from indexer.chain.node_errors import (
    BlockUnavailable,
    NodeForbidden,
    NodeProtocolError,
    NodeUnreachable,
    RestError,
)
from indexer.chain.retry import Attempts, Backoff
from indexer.chain.rpc import Endpoint, transient_reason

__all__ = ["RestClient"]

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

HEADER_SIZE = 80
MAX_HEADERS = 2000  # MAX_REST_HEADERS_RESULTS in rest.cpp


class _Unavailable(Exception):
    """HTTP 503: warming up, or the work queue is full."""


class RestClient:
    """GETs against `/rest/` over one keep-alive connection, reconnecting as needed.
    Not thread-safe: one per thread."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 60.0,
                 backoff: Backoff | None = None) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self.backoff = backoff or Backoff()
        self._conn: http.client.HTTPConnection | None = None
        self._served = False

    def __repr__(self) -> str:
        return f"RestClient({self.endpoint.url})"

    # --- detection --------------------------------------------------------------------

    def enabled(self) -> bool:
        """True when the node serves REST. One request; retried while warming up."""
        status, body = self._get("/rest/chaininfo.json")
        if status == 200:
            return True
        if status == 404 and not body.strip():
            return False
        if status == 403:
            raise NodeForbidden(self.endpoint.url, "for /rest/")
        _logger.info("REST probe at %s answered HTTP %d; using RPC", self.endpoint.url, status)
        return False

    # --- endpoints --------------------------------------------------------------------

    def chaininfo(self) -> dict[str, Any]:
        body = self._ok("/rest/chaininfo.json")
        try:
            info = json.loads(body, parse_float=Decimal)
        except ValueError:
            raise NodeProtocolError(self.endpoint.url, "chaininfo is not JSON") from None
        if not isinstance(info, dict):
            raise NodeProtocolError(self.endpoint.url, "chaininfo is not a JSON object")
        return info

    def block(self, block_hash: str) -> bytes:
        """The raw block. `BlockUnavailable` when pruned or unknown."""
        status, body = self._get(f"/rest/block/{block_hash}.bin")
        if status == 200:
            return body
        text = _text(body)
        if status == 404 and text:
            raise BlockUnavailable(block_hash, detail=text)
        raise RestError(self._path_url(f"/rest/block/{block_hash}.bin"), status, text)

    def block_hash(self, height: int) -> str | None:
        """Hash of the active chain's block at `height`; None above the tip."""
        path = f"/rest/blockhashbyheight/{height}.bin"
        status, body = self._get(path)
        if status == 200:
            if len(body) != 32:
                raise NodeProtocolError(self.endpoint.url, f"{path}: {len(body)} bytes")
            return body[::-1].hex()  # served in internal byte order
        text = _text(body)
        if status == 404 and "out of range" in text:
            return None
        raise RestError(self._path_url(path), status, text)

    def headers(self, start_hash: str, count: int) -> list[bytes]:
        """Up to `count` (<= 2000) 80-byte headers of the active chain from `start_hash`
        on; empty when that block is not in the active chain."""
        if not 1 <= count <= MAX_HEADERS:
            raise ValueError(f"count must be in 1..{MAX_HEADERS}")
        path = f"/rest/headers/{start_hash}.bin?count={count}"
        status, body = self._get(path)
        if status == 400:
            # Core before 24.0 only knows /rest/headers/<count>/<hash> (since deprecated).
            path = f"/rest/headers/{count}/{start_hash}.bin"
            status, body = self._get(path)
        if status != 200:
            raise RestError(self._path_url(path), status, _text(body))
        if len(body) % HEADER_SIZE:
            raise NodeProtocolError(self.endpoint.url, f"{path}: {len(body)} bytes")
        return [body[i:i + HEADER_SIZE] for i in range(0, len(body), HEADER_SIZE)]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._served = False

    # --- transport --------------------------------------------------------------------

    def _path_url(self, path: str) -> str:
        return self.endpoint.url + path

    def _ok(self, path: str) -> bytes:
        status, body = self._get(path)
        if status != 200:
            raise RestError(self._path_url(path), status, _text(body))
        return body

    def _get(self, path: str) -> tuple[int, bytes]:
        return self._with_retries(lambda: self._get_once(path))

    def _get_once(self, path: str) -> tuple[int, bytes]:
        if self._conn is None:
            cls = (http.client.HTTPSConnection if self.endpoint.scheme == "https"
                   else http.client.HTTPConnection)
            self._conn = cls(self.endpoint.host, self.endpoint.port, timeout=self._timeout)
            self._served = False
        self._conn.request("GET", self.endpoint.path + path, headers={"User-Agent": "lockedbtc"})
        resp = self._conn.getresponse()
        body = resp.read()  # always drain: keeps the connection reusable
        self._served = True
        if resp.status == 503:
            raise _Unavailable(_text(body) or "service unavailable")
        return resp.status, body

    def _with_retries(self, op: Callable[[], _T]) -> _T:
        attempts = self.backoff.start()
        reconnected = False
        while True:
            try:
                return op()
            except _Unavailable as exc:
                if not self._pause(attempts, str(exc)):
                    raise NodeUnreachable(self.endpoint.url, f"HTTP 503 {exc}") from None
            except Exception as exc:
                reason = transient_reason(exc)
                if reason is None:
                    raise
                was_served = self._served
                self.close()
                if was_served and not reconnected:
                    # An idle keep-alive connection the node has closed: reconnect at once.
                    reconnected = True
                    continue
                if not self._pause(attempts, reason):
                    raise NodeUnreachable(self.endpoint.url, reason) from None

    def _pause(self, attempts: Attempts, reason: str) -> bool:
        delay = attempts.next_delay()
        if delay is None:
            return False
        attempts.report(_logger, "REST at %s: %s; retrying in %.2f s", self.endpoint.url,
                        reason, delay)
        attempts.pause(delay)
        return True


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace").strip()
