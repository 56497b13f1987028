"""`run --zmq`: Bitcoin Core's `sequence` notifications wake the daemon for block
(dis)connections and not for mempool traffic. Core publishes [topic, body, seq] where the
body is the 32-byte hash, one label byte (C/D block, A/R mempool) and, for A/R, 8 bytes."""

from __future__ import annotations

import zmq

from indexer.chain.zmq_notify import SequenceWaker


def _publisher() -> tuple[zmq.Socket[bytes], str]:
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUB)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    return sock, f"tcp://127.0.0.1:{port}"


def _publish_until_woken(pub: zmq.Socket[bytes], waker: SequenceWaker, body: bytes) -> bool:
    # PUB/SUB drops messages sent before the subscription is live: resend a few times.
    for n in range(20):
        pub.send_multipart([b"sequence", body, n.to_bytes(4, "little")])
        if waker.wait(0.1):
            return True
    return False


def test_block_connected_wakes_and_mempool_does_not() -> None:
    pub, url = _publisher()
    waker = SequenceWaker(url)
    try:
        mempool = b"\x11" * 32 + b"A" + (7).to_bytes(8, "little")
        assert not _publish_until_woken(pub, waker, mempool)
        assert _publish_until_woken(pub, waker, b"\x22" * 32 + b"C")
        assert _publish_until_woken(pub, waker, b"\x33" * 32 + b"D")
    finally:
        waker.close()
        pub.close(linger=0)


def test_wait_returns_false_without_messages() -> None:
    pub, url = _publisher()
    waker = SequenceWaker(url)
    try:
        assert waker.wait(0.2) is False
    finally:
        waker.close()
        pub.close(linger=0)
