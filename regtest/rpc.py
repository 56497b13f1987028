"""A minimal JSON-RPC client for the harness (one keep-alive HTTP connection).

Speaks Bitcoin Core's JSON-RPC 1.0 dialect to `http://user:pass@host:port`. Errors come
back as `RpcError` carrying Core's code and message, whatever the HTTP status (Core answers
errors with 500/404 and a JSON body). Amounts are never converted here: the harness only
uses hashes, heights and hex.
"""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any
from urllib.parse import unquote, urlsplit


class RpcError(RuntimeError):
    """A JSON-RPC error object from the node."""

    def __init__(self, code: int, message: str, method: str) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.code = code
        self.message = message
        self.method = method


class RpcClient:
    """Calls `method(*params)` on a node; reconnects once if the connection was dropped."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError("an RPC URL looks like http://user:pass@127.0.0.1:18443")
        self.host, self.port = parts.hostname, parts.port
        self.timeout = timeout
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        self._conn: http.client.HTTPConnection | None = None
        self._id = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "1.0", "id": self._id, "method": method,
                           "params": list(params)})
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", "/", body, self._headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                # NOTE: a kept-alive connection the server closed fails on first use.
                self.close()
                if attempt:
                    raise
        if resp.status == 401:
            raise RpcError(-401, "authorization failed: check the RPC user and password",
                           method)
        try:
            reply = json.loads(data)
        except ValueError:
            raise RpcError(-1, f"HTTP {resp.status}: {data[:200]!r}", method) from None
        err = reply.get("error")
        if err:
            raise RpcError(int(err.get("code", -1)), str(err.get("message", "")), method)
        return reply.get("result")
