"""A malformed block from the node stops the indexer with one clear line and exit code 3,
before anything of that height (or any later one) is written; the heights below it stay
exactly as a clean run leaves them. Through the real CLI, for `backfill` and `run`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.chain.block import parse_block
from regtest.harness import Harness
from regtest.node import TestNode
from tests.reliability.support import cursors, diff, dump, run, truncated

BAD_HEIGHT = 8


@pytest.fixture
def node() -> Iterator[TestNode]:
    with TestNode(port=0) as n:
        h = Harness(n.url)
        h.mine(12)
        h.rpc.close()
        yield n


def _corrupt(node: TestNode, height: int, how: str) -> None:
    entry = node.chainstate.at_height(height)
    assert entry is not None and entry.raw is not None
    raw = entry.raw
    if how == "truncated":
        entry.raw = raw[:-7]
    else:  # one byte of the coinbase output value flipped: same length, same header
        block = parse_block(raw)
        cb = block.txs[0]
        at = cb.raw.find(cb.outputs[0].value.to_bytes(8, "little"))
        start = raw.find(cb.raw[:60])
        assert at >= 0 and start >= 0
        pos = start + at
        entry.raw = raw[:pos] + bytes([raw[pos] ^ 0x01]) + raw[pos + 1:]


def _check(res_rc: int, stderr: str, db: str, ref: str, secret: str) -> None:
    assert res_rc == 3, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "malformed block" in lines[0] or "block" in lines[0]
    assert str(BAD_HEIGHT) in lines[0] and secret not in stderr
    heights = {a: h for a, (h, _) in cursors(db).items()}
    assert all(h < BAD_HEIGHT for h in heights.values()), heights
    if heights:
        assert not diff(dump(db), truncated(dump(ref), heights))


@pytest.mark.parametrize("command", ["backfill", "run"])
def test_truncated_block_stops_with_exit_3(node: TestNode, tmp_path: Path,
                                           command: str) -> None:
    ref, db = f"sqlite:///{tmp_path}/ref.sqlite3", f"sqlite:///{tmp_path}/bad.sqlite3"
    clean = run(["backfill", "--from", "0", "--to", "12", "--rpc", node.url, "--db", ref])
    assert clean.returncode == 0, clean.stderr
    _corrupt(node, BAD_HEIGHT, "truncated")
    args = (["backfill", "--from", "0", "--to", "12", "--batch", "3"] if command == "backfill"
            else ["run", "--poll-interval", "0.1"])
    res = run([*args, "--rpc", node.url, "--db", db], timeout=60)
    _check(res.returncode, res.stderr, db, ref, node.credentials.password)


def test_corrupted_transaction_bytes_stop_with_exit_3(node: TestNode, tmp_path: Path) -> None:
    ref, db = f"sqlite:///{tmp_path}/ref.sqlite3", f"sqlite:///{tmp_path}/bad.sqlite3"
    clean = run(["backfill", "--from", "0", "--to", "12", "--rpc", node.url, "--db", ref])
    assert clean.returncode == 0, clean.stderr
    _corrupt(node, BAD_HEIGHT, "garbled")
    res = run(["backfill", "--from", "0", "--to", "12", "--batch", "3", "--rpc", node.url,
               "--db", db], timeout=60)
    _check(res.returncode, res.stderr, db, ref, node.credentials.password)
