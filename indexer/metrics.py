"""Prometheus metrics for the daemon (`run --metrics-port`), in the text exposition format.

Served from a daemon thread on 127.0.0.1 by default; read-only, GET only.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from indexer.daemon import DaemonStats

_logger = logging.getLogger(__name__)


def render_metrics(stats: DaemonStats) -> str:
    lag = (stats.tip_height - stats.indexed_height
           if stats.tip_height is not None and stats.indexed_height is not None else None)
    rate = stats.blocks / stats.seconds if stats.seconds > 0 else 0.0
    rows = [
        ("lockedbtc_indexed_height", "gauge", "Highest height indexed", stats.indexed_height),
        ("lockedbtc_tip_height", "gauge", "Node tip height", stats.tip_height),
        ("lockedbtc_lag_blocks", "gauge", "Blocks between the node tip and the index", lag),
        ("lockedbtc_blocks_indexed_total", "counter", "Blocks indexed by this process",
         stats.blocks),
        ("lockedbtc_blocks_per_second", "gauge", "Indexing rate of the last catch-up", rate),
        ("lockedbtc_rollbacks_total", "counter", "Reorg rollbacks", stats.rollbacks),
        ("lockedbtc_rpc_errors_total", "counter", "Node errors retried", stats.node_errors),
        ("lockedbtc_db_errors_total", "counter", "Database errors retried", stats.db_errors),
        ("lockedbtc_caught_up", "gauge", "1 when following the tip", int(stats.caught_up)),
    ]
    out = []
    for name, kind, help_, value in rows:
        out.append(f"# HELP {name} {help_}\n# TYPE {name} {kind}")
        if value is not None:
            out.append(f"{name} {value}")
    return "\n".join(out) + "\n"


def serve_metrics(stats: DaemonStats, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = render_metrics(stats).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            _logger.debug("metrics: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    _logger.info("metrics on http://%s:%d/metrics", host, server.server_address[1])
    return server
