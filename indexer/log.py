"""Logging set-up for the CLI: one line per record on stderr, credentials scrubbed.

NOTE: modules never log secrets on purpose; the filter is the second line of defence
(a library's message quoting a URL with `user:pass@`).
"""

from __future__ import annotations

import logging
import sys

from indexer.errors import redact


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                           "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_Redact())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # python-bitcoinrpc logs every request body at DEBUG; keep it quiet unless asked.
    logging.getLogger("BitcoinRPC").setLevel(max(logging.INFO, root.level))
