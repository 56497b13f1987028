"""Wake-ups from Bitcoin Core's ZMQ `sequence` publisher (`-zmqpubsequence=tcp://...`).

Only a hint that the chain changed: the daemon still asks RPC what the tip is, so a lost or
reordered notification costs at most one poll interval, never a wrong table.
"""

from __future__ import annotations

import logging

import zmq

_logger = logging.getLogger(__name__)


class SequenceWaker:
    """Subscribes to the `sequence` topic; `wait(t)` returns True when a block was connected
    or disconnected (mempool messages are ignored) before `t` seconds passed."""

    def __init__(self, url: str) -> None:
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._sock: zmq.Socket[bytes] = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.SUBSCRIBE, b"sequence")
        self._sock.setsockopt(zmq.RCVHWM, 0)
        self._sock.connect(url)
        _logger.info("listening for ZMQ sequence notifications on %s", url)

    def wait(self, timeout: float) -> bool:
        deadline_ms = int(timeout * 1000)
        while self._sock.poll(deadline_ms):
            parts = self._sock.recv_multipart()
            # body: 32-byte hash + one label byte: C/D block (dis)connected, A/R mempool.
            if len(parts) >= 2 and len(parts[1]) >= 33 and parts[1][32:33] in (b"C", b"D"):
                return True
            deadline_ms = 0  # drain mempool chatter without waiting longer
        return False

    def close(self) -> None:
        self._sock.close(linger=0)
