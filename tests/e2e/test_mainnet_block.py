"""Mainnet block 864790 (the first Babylon cap-2 block) served by the test node exactly as
the contract says, indexed by the CLI with the built-in mainnet params, and every staking
transaction checked against an independent reading of its OP_RETURN and the v1 rules
(spec §1.1, §3.1-3.2): nothing tagged is dropped silently, each stake is active (cap-2 is
a `cap_height` version and the block is inside its window), within the amount bounds, and
pays a taproot output of its amount."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.chain.block import parse_block
from tests.conftest import shared_path
from tests.e2e.cli import ok_json, run

HEIGHT = 864790
TAG_PREFIX = bytes.fromhex("6a47") + bytes.fromhex("62626e31") + b"\x00"


@pytest.fixture(scope="module")
def block_file() -> Path:
    return shared_path("babylon", "block-864790", "block.hex")


@pytest.fixture(scope="module")
def node(block_file: Path) -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "regtest", "serve", "--chain", "main",
                             "--port", "0", "--start-height", str(HEIGHT), "--blocks",
                             str(block_file)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    assert first.startswith("rpc=http://"), first
    yield first[len("rpc="):]
    proc.terminate()
    assert proc.wait(timeout=20) == 0


def test_block_864790_stakes_follow_the_rules(node: str, block_file: Path,
                                              tmp_path: Path) -> None:
    common = ["--rpc", node, "--db", f"sqlite:///{tmp_path}/m.sqlite3"]
    res = run(["backfill", "--from", str(HEIGHT), "--to", str(HEIGHT), "--adapter", "babylon",
               *common])
    assert res.returncode == 0, res.stderr
    positions = ok_json(["positions", "--protocol", "babylon", "--json", *common])
    rejects = ok_json(["rejects", "--protocol", "babylon", "--json", *common])
    events = ok_json(["events", "--protocol", "babylon", "--json", *common])
    locked = ok_json(["locked", "--json", "--protocol", "babylon", *common])

    block = parse_block(bytes.fromhex(block_file.read_text().strip()))
    tagged = {}
    for tx in block.txs:
        for out in tx.outputs:
            s = out.script_pubkey
            if len(s) == 73 and s.startswith(TAG_PREFIX):
                tagged[tx.txid] = (tx, s[7:39].hex(), s[39:71].hex(),
                                   int.from_bytes(s[71:73], "big"))
    assert len(tagged) > 100  # the cap-2 opening block is full of stakes
    stakes = {p["txid"]: p for p in positions if p["kind"] == "staking"}
    rejected = {r["txid"] for r in rejects}
    assert set(tagged) == set(stakes) | rejected, "a tagged tx was silently dropped"
    for txid, p in stakes.items():
        tx, staker, fp, time_ = tagged[txid]
        assert (p["staker_pk"], p["finality_provider_pk"], p["staking_time"]) == (staker, fp,
                                                                                  time_)
        assert p["params_version"] == 1 and p["height"] == HEIGHT
        assert p["status"] == "active"  # cap_height 864799 >= 864790
        assert 500_000 <= p["value_sat"] <= 50_000_000_000 and time_ == 64000
        out = tx.outputs[p["vout"]]
        assert out.value == p["value_sat"] and out.script_pubkey[:2] == b"\x51\x20"
    assert sum(e["kind"] == "stake" for e in events) == len(stakes)
    (line,) = locked["protocols"]
    assert line["protocol"] == "babylon" and locked["height"] == HEIGHT
    assert line["locked_sat"] == locked["total_sat"] >= line["active_sat"]
    assert line["active_sat"] == sum(p["value_sat"] for p in stakes.values())
    assert line["overflow_sat"] == 0
    # a stake's OP_RETURN seen alone is read the same way by `inspect tx`
    some = next(iter(stakes))
    found = ok_json(["inspect", "tx", tagged[some][0].raw.hex(), "--json", "--chain", "main",
                     *common])
    assert any(f["protocol"] == "babylon" and f["staker_pk"] == tagged[some][1] for f in found)
