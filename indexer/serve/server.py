"""`lockedbtc serve`: a read-only HTTP server (stdlib `ThreadingHTTPServer`).

GET and HEAD only (every other method gets 405 with `Allow: GET, HEAD`); `/` is the
dashboard, `/api/...` the JSON API (`indexer.serve.api`). Responses carry a
Content-Security-Policy with no script and no remote resource, and never a credential: the
settings object stays on the server side and error texts go through `redact`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from indexer.config import Settings
from indexer.db.store import Store
from indexer.errors import OperatorError
from indexer.serve import page
from indexer.serve.api import Api, ApiError

_logger = logging.getLogger(__name__)

DASHBOARD_EVENTS = 20
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def render_dashboard(api: Api, interval: str = "day") -> str:
    """The dashboard HTML from the same API calls the JSON endpoints answer."""
    status = api.status({})
    try:
        locked: dict[str, Any] | None = api.locked({})
        hist: dict[str, Any] | None = api.history({"interval": [interval]})
    except (ApiError, OperatorError):
        locked = hist = None  # nothing indexed yet: an empty page, not an error
    events = api.events({"latest": ["1"], "limit": [str(DASHBOARD_EVENTS)]})
    return page.dashboard(locked, hist, events, status)


class Handler(BaseHTTPRequestHandler):
    """One request; `api` is set on the subclass `make_server` builds."""

    api: Api

    def version_string(self) -> str:
        return "lockedbtc"  # no Python version in the Server header

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def __getattr__(self, name: str) -> Callable[[], None]:
        # NOTE: BaseHTTPRequestHandler looks up `do_<METHOD>` and answers 501 when it is
        # missing; every method but GET/HEAD lands here instead and gets 405.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self._send(405, "application/json", json.dumps(
            {"error": f"method {self.command} not allowed", "hint": "read-only: GET or HEAD"}
        ).encode(), with_body=True, extra={"Allow": "GET, HEAD"})

    def _answer(self, with_body: bool) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, max_num_fields=50)
        try:
            if url.path in ("/", "/index.html"):
                interval = (query.get("interval") or ["day"])[-1]
                if interval not in ("block", "day", "week", "cycle"):
                    interval = "day"
                body = render_dashboard(self.api, interval).encode()
                self._send(200, "text/html; charset=utf-8", body, with_body)
                return
            if url.path.startswith("/api/"):
                data = self.api.handle(url.path, query)
                self._send(200, "application/json", json.dumps(data).encode(), with_body)
                return
            raise ApiError(404, f"no such page {url.path}", "try / or /api/status")
        except ApiError as exc:
            self._send(exc.status, "application/json", json.dumps(exc.body()).encode(),
                       with_body)
        except OperatorError as exc:  # e.g. the database went away
            self._send(503, "application/json", json.dumps(
                ApiError(503, exc.summary, exc.hint).body()).encode(), with_body)
        except Exception:
            _logger.exception("serve: %s failed", url.path)
            self._send(500, "application/json",
                       b'{"error": "internal error", "hint": "see the server log"}', with_body)

    def _send(self, status: int, ctype: str, body: bytes, with_body: bool,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        _logger.debug("serve: " + format, *args)


def make_server(store: Store, settings: Settings, host: str = "127.0.0.1",
                port: int = 8080) -> ThreadingHTTPServer:
    """A bound server (port 0 picks a free one); call `serve_forever()` on it."""
    api = Api(store, settings)
    handler = type("BoundHandler", (Handler,), {"api": api})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    _logger.info("serving http://%s:%d/", host, server.server_address[1])
    return server
