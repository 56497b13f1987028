"""Node faults, through the real CLI against the test node: the node goes away in the
middle of a backfill and of `run`, and comes back with the same chain or a reorganised
one; the indexer retries with backoff, says so once, resumes, and ends with exactly the
tables of a clean run. Faults that will not fix themselves (wrong credentials, a params
file for another chain, a pruned node, a node warming up for longer than we wait) are one
line on stderr and exit code 2; a node that finishes warming up in time is just waited for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regtest.build import TxOutput
from regtest.harness import Harness
from regtest.node import TestNode
from regtest.node.server import _Handler
from tests.reliability.support import (
    activity_harness,
    cursors,
    diff,
    dump,
    indexed_to,
    popen,
    run,
    stop,
    wait_for,
    write_params,
)
from tests.unit.fake_core import free_port

OUTAGE_SECONDS = 2.5  # longer than the 2 s after which a retrying call is announced


@pytest.fixture
def active(tmp_path: Path) -> Iterator[tuple[TestNode, Harness, Path]]:
    with TestNode(port=0) as node:
        harness, params = activity_harness(node)
        yield node, harness, write_params(tmp_path / "params.json", params)


def _common(node: TestNode, db: str, params: Path) -> list[str]:
    return ["--rpc", node.url, "--db", db, "--params", str(params)]


def _one_line_error(res: Any, *secrets: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for s in secrets:
        assert s not in res.stderr and s not in res.stdout
    return str(lines[0])


def _slow_node(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every request to the (in-process) test node takes a little longer, so that a
    backfill is still running when the test pulls the plug."""
    original = _Handler._route

    def slow(self: _Handler) -> None:
        time.sleep(seconds)
        original(self)

    monkeypatch.setattr(_Handler, "_route", slow)
    for verb in ("do_GET", "do_POST", "do_HEAD", "do_PUT"):
        monkeypatch.setattr(_Handler, verb, slow)


@pytest.mark.parametrize("reorg", [False, True], ids=["same-chain", "reorged-chain"])
def test_backfill_rides_out_a_node_outage(active: tuple[TestNode, Harness, Path],
                                          db_pair_pg_slow: tuple[str, str], reorg: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    node, harness, params = active
    ref, db = db_pair_pg_slow
    tip = harness.tip()[0]
    # Most of the chain first, quickly; the last heights slowly, with the outage among them.
    first = run(["backfill", "--from", "0", "--to", str(tip - 30), *_common(node, db, params)])
    assert first.returncode == 0, first.stderr
    _slow_node(monkeypatch, 0.02)
    proc = popen(["backfill", "--to", str(tip), "--batch", "1", "--quiet",
                  "--rpc-retry-seconds", "30", *_common(node, db, params)])
    wait_for(lambda: min(h for h, _ in cursors(db).values()) >= tip - 15,
             "the backfill to pass height tip-15", proc=proc)
    node.stop_serving()
    at_stop = min(h for h, _ in cursors(db).values())
    if reorg:
        # Replace the last three heights the indexer committed and all above them (at most
        # 18 blocks), with a peg-in in the new branch.
        fed = params_address(params)
        harness.reorg(tip - at_stop + 3, [harness.wallet.send([TxOutput(2_500_000, fed)])])
    time.sleep(OUTAGE_SECONDS)
    node.start_serving()
    try:
        rc = proc.wait(timeout=120)
    finally:
        _out, err = stop(proc)
    monkeypatch.undo()  # the clean run below need not be slow
    assert rc == 0, err
    assert at_stop < tip, "the backfill finished before the outage"
    assert "Traceback" not in err
    # NOTE: the node client announces an outage once it has lasted 2 s at a retry point
    # (retry.py); a shorter one is a blip and stays at DEBUG. Never more than once.
    retry_lines = [ln for ln in err.splitlines() if "retrying" in ln]
    assert len(retry_lines) <= 1, f"the outage should be said at most once:\n{err}"
    if reorg:
        assert "reorg" in err
    clean = run(["backfill", "--from", "0", "--to", str(tip), *_common(node, ref, params)])
    assert clean.returncode == 0, clean.stderr
    problems = diff(dump(db), dump(ref))
    assert not problems, problems


def params_address(params: Path) -> bytes:
    """The scriptPubKey of the first Powpeg federation of the params file."""
    from adapters.powpeg.addresses import script_for_address

    address = json.loads(params.read_text())["powpeg"]["federations"][0]["address"]
    return script_for_address(address, "regtest")


def test_run_rides_out_outages_and_a_reorg_behind_one(
        active: tuple[TestNode, Harness, Path], db_pair: tuple[str, str]) -> None:
    node, harness, params = active
    ref, db = db_pair
    proc = popen(["run", "--poll-interval", "0.1", "--rpc-retry-seconds", "0.5",
                  *_common(node, db, params)])
    try:
        tip, tip_hash = harness.tip()
        wait_for(lambda: indexed_to(db, tip, tip_hash), "catching up", proc=proc)
        fed = params_address(params)
        # Outage 1: the node comes back with the same chain plus two blocks.
        node.stop_serving()
        harness.mine(2)
        time.sleep(OUTAGE_SECONDS)
        node.start_serving()
        tip, tip_hash = harness.tip()
        wait_for(lambda: indexed_to(db, tip, tip_hash), "the blocks mined during outage 1",
                 proc=proc)
        # Outage 2: a peg-in is mined and indexed; while the node is down a heavier branch
        # replaces the last three blocks and carries the same peg-in two heights lower.
        pegin = harness.wallet.send([TxOutput(3_000_000, fed)])
        harness.mine(1, [pegin])
        tip, tip_hash = harness.tip()
        wait_for(lambda: indexed_to(db, tip, tip_hash), "the peg-in block", proc=proc)
        node.stop_serving()
        harness.reorg(3, [pegin], blocks=4)
        time.sleep(OUTAGE_SECONDS)
        node.start_serving()
        tip, tip_hash = harness.tip()
        wait_for(lambda: indexed_to(db, tip, tip_hash), "the reorganised chain", proc=proc)
    finally:
        _out, err = stop(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    # Said once per outage, not once per retry.
    assert sum("node lost" in ln for ln in err.splitlines()) == 2, err
    assert sum("node back" in ln for ln in err.splitlines()) == 2, err
    clean = run(["backfill", "--from", "0", "--to", str(tip), *_common(node, ref, params)])
    assert clean.returncode == 0, clean.stderr
    problems = diff(dump(db), dump(ref))
    assert not problems, problems


# ---------------------------------------------------------------------------- permanent faults


def test_wrong_credentials_stop_run_and_status(active: tuple[TestNode, Harness, Path],
                                               tmp_path: Path) -> None:
    node, _, params = active
    db = f"sqlite:///{tmp_path}/x.sqlite3"
    bad = node.url.replace(node.credentials.password, "Wr0ngPassw0rd")
    for cmd in (["run"], ["status", "--json"], ["backfill", "--to", "3"]):
        res = run([*cmd, "--rpc", bad, "--db", db, "--params", str(params)], timeout=60)
        line = _one_line_error(res, "Wr0ngPassw0rd", node.credentials.password)
        assert "credentials" in line


def test_stale_cookie_is_one_line(tmp_path: Path) -> None:
    with TestNode(port=0, datadir=tmp_path / "node") as node:
        assert node.cookie_file is not None
        stale = tmp_path / "stale.cookie"
        stale.write_text("__cookie__:0123456789abcdef0123456789abcdef")
        res = run(["status", "--rpc", f"http://127.0.0.1:{node.port}", "--cookie-file",
                   str(stale), "--db", f"sqlite:///{tmp_path}/x.sqlite3"])
        real = node.cookie_file.read_text().split(":", 1)[1]
    line = _one_line_error(res, "0123456789abcdef0123456789abcdef", real)
    assert "credentials" in line and "cookie" in line


def test_params_for_regtest_against_a_main_node(active: tuple[TestNode, Harness, Path],
                                                tmp_path: Path) -> None:
    _, _, params = active
    with TestNode(chain="main", port=0) as main:
        res = run(["backfill", "--to", "0", "--rpc", main.url, "--params", str(params),
                   "--db", f"sqlite:///{tmp_path}/x.sqlite3"])
        password = main.credentials.password
    line = _one_line_error(res, password)
    assert str(params) in line and "another chain" in line and "'main'" in line


def test_mainnet_params_against_a_regtest_node(tmp_path: Path) -> None:
    params = write_params(tmp_path / "main.json", {"stacks": {
        "sbtc_peg_addresses": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"]}})
    with TestNode(port=0) as node:
        res = run(["run", "--rpc", node.url, "--params", str(params),
                   "--db", f"sqlite:///{tmp_path}/x.sqlite3"])
    line = _one_line_error(res)
    assert "stacks.sbtc_peg_addresses[0]" in line and "mainnet" in line


def test_warming_up_node_is_waited_for(active: tuple[TestNode, Harness, Path],
                                       tmp_path: Path) -> None:
    node, _harness, params = active
    db = f"sqlite:///{tmp_path}/x.sqlite3"
    node.set_warmup(True, 1.0)
    res = run(["backfill", "--to", "150", "--rpc-retry-seconds", "20",
               *_common(node, db, params)], level="INFO")
    assert res.returncode == 0, res.stderr
    assert sum("still retrying" in ln for ln in res.stderr.splitlines()) <= 1, res.stderr
    assert min(h for h, _ in cursors(db).values()) == 150


def test_node_warming_up_too_long_is_one_line(active: tuple[TestNode, Harness, Path],
                                              tmp_path: Path) -> None:
    node, _, params = active
    node.set_warmup(True, None)  # until cleared
    res = run(["backfill", "--to", "5", "--rpc-retry-seconds", "1",
               *_common(node, f"sqlite:///{tmp_path}/x.sqlite3", params)])
    line = _one_line_error(res, node.credentials.password)
    assert "-28" in line and "starting up" in line


def test_pruned_node_is_one_line(tmp_path: Path) -> None:
    with TestNode(port=0, prune_below=50) as node:
        h = Harness(node.url)
        h.mine(60)
        h.rpc.close()
        db = f"sqlite:///{tmp_path}/x.sqlite3"
        res = run(["backfill", "--from", "0", "--to", "60", "--rpc", node.url, "--db", db])
        line = _one_line_error(res, node.credentials.password)
        assert "pruned" in line and "not available" in line
        follow = run(["run", "--rpc", node.url, "--db", f"sqlite:///{tmp_path}/y.sqlite3"],
                     timeout=60)
        assert "pruned" in _one_line_error(follow, node.credentials.password)
        # What the node still has indexes fine.
        ok = run(["backfill", "--from", "50", "--to", "60", "--rpc", node.url, "--db",
                  f"sqlite:///{tmp_path}/z.sqlite3"])
        assert ok.returncode == 0, ok.stderr


def test_unreachable_node_for_run_is_one_line(tmp_path: Path) -> None:
    url = f"http://alice:S3cretNodePass@127.0.0.1:{free_port()}"
    res = run(["run", "--rpc", url, "--rpc-retry-seconds", "0.5",
               "--db", f"sqlite:///{tmp_path}/x.sqlite3"])
    assert "cannot reach" in _one_line_error(res, "S3cretNodePass")
