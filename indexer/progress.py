"""Progress of long work: a one-line bar with blocks/s and ETA on a terminal, a log line
every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from indexer.sync import Progress

_logger = logging.getLogger(__name__)


class ProgressReporter:
    def __init__(self, start: int, end: int, *, quiet: bool = False,
                 stream: TextIO | None = None, log_every: float = 10.0) -> None:
        self.start = start
        self.end = end
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.log_every = log_every
        self._last_log = 0.0

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        total = max(1, self.end - self.start + 1)
        done = p.height - self.start + 1
        rate = p.blocks / p.seconds if p.seconds > 0 else 0.0
        eta = (self.end - p.height) / rate if rate > 0 else 0.0
        if self.tty:
            width = 30
            fill = int(width * done / total)
            self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {p.height}/{self.end} "
                              f"{rate:7.1f} blocks/s  ETA {_fmt(eta)} ")
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self._last_log >= self.log_every or p.height >= self.end:
            self._last_log = now
            _logger.info("indexed %d/%d (%.1f blocks/s, ETA %s)", p.height, self.end, rate,
                         _fmt(eta))

    def finish(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def _fmt(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"
