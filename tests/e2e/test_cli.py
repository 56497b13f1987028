"""The console script end to end against the test node: backfill, status, locked,
positions, events on SQLite and PostgreSQL; `run` following a reorg and stopping on
SIGTERM; every operator error as one line with exit code 2 and no secret in it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.powpeg.addresses import address_of
from indexer.db.engine import make_engine
from regtest.build import TxOutput
from regtest.harness import Harness
from regtest.keys import Key
from regtest.node import TestNode
from regtest.scripts import multisig, p2sh
from tests.e2e.cli import LOCKEDBTC, ok_json, run
from tests.support.dump import dump
from tests.unit.fake_core import FakeCore, free_port

FED_KEYS = [Key.from_label(f"cli-fed-{i}") for i in range(3)]
FED_SPK = p2sh(multisig(2, [k.pubkey for k in FED_KEYS]))
FED_ADDR = address_of(FED_SPK, "regtest")
PEGINS = (10_000_000, 2_000_000)


@pytest.fixture
def chain() -> Iterator[tuple[TestNode, Harness]]:
    with TestNode(port=0) as node:
        h = Harness(node.url)
        h.mine(101)
        txs = [h.wallet.send([TxOutput(v, FED_SPK)]) for v in PEGINS]
        h.mine(1, txs)
        h.mine(2)
        yield node, h
        h.rpc.close()


@pytest.fixture
def params(tmp_path: Path) -> Path:
    p = tmp_path / "params.json"
    p.write_text(json.dumps({"powpeg": {"federations": [{"address": FED_ADDR,
                                                         "from_height": 0}],
                                        "min_pegin_sat": 1_000_000}}))
    return p


def _common(node: TestNode, db: str, params: Path) -> list[str]:
    return ["--rpc", node.url, "--db", db, "--params", str(params)]


def test_backfill_and_queries(chain: tuple[TestNode, Harness], params: Path,
                              db_url: str) -> None:
    node, h = chain
    tip = h.tip()[0]
    common = _common(node, db_url, params)
    res = run(["backfill", "--from", "0", "--to", str(tip), *common])
    assert res.returncode == 0, res.stderr
    status = ok_json(["status", "--json", *common])
    assert status["chain"] == "regtest" and status["tip_height"] == tip
    assert status["indexed_height"] == tip
    assert status["adapters"]["powpeg"] == {"height": tip}
    assert set(status["adapters"]) >= {"babylon", "stacks", "powpeg", "coredao"}

    locked = ok_json(["locked", "--json", *common])
    assert locked["height"] == tip and locked["chain"] == "regtest"
    line = {p["protocol"]: p for p in locked["protocols"]}["powpeg"]
    assert line["locked_sat"] == sum(PEGINS) and line["positions"] == 2
    assert locked["total_sat"] == sum(PEGINS)
    before = ok_json(["locked", "--json", "--at-height", "101", *common])
    assert before["total_sat"] == 0 and before["height"] == 101

    positions = ok_json(["positions", "--protocol", "powpeg", "--json", *common])
    assert sorted(p["value_sat"] for p in positions) == sorted(PEGINS)
    assert all(p["height"] == 102 and p["vout"] == 0 for p in positions)
    events = ok_json(["events", "--protocol", "powpeg", "--json", *common])
    assert [e["kind"] for e in events] == ["pegin", "pegin"]
    assert {e["txid"] for e in events} == {p["txid"] for p in positions}

    engine = make_engine(db_url)
    snapshot = dump(engine)
    again = run(["backfill", "--from", "0", "--to", str(tip), *common])
    assert again.returncode == 0, again.stderr
    assert dump(engine) == snapshot  # a done range is a no-op

    table = run(["locked", *common])
    assert table.returncode == 0 and "0.12000000" in table.stdout and "powpeg" in table.stdout


def _wait_json(args: list[str], cond: Any, timeout: float = 180) -> Any:
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        res = run(args)
        if res.returncode == 0:
            last = json.loads(res.stdout)
            if cond(last):
                return last
        time.sleep(0.3)
    raise AssertionError(f"condition not met; last answer {last}")


def test_run_follows_tip_and_reorg_then_stops_on_sigterm(
        chain: tuple[TestNode, Harness], params: Path, tmp_path: Path) -> None:
    node, h = chain
    db = f"sqlite:///{tmp_path}/run.sqlite3"
    common = _common(node, db, params)
    proc = subprocess.Popen([*LOCKEDBTC, "run", "--poll-interval", "0.1", *common],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failure: AssertionError | None = None
    try:
        powpeg = ["locked", "--json", "--protocol", "powpeg", *common]
        _wait_json(powpeg, lambda r: r["height"] == 104 and r["total_sat"] == sum(PEGINS))
        extra = h.wallet.send([TxOutput(3_000_000, FED_SPK)])
        h.mine(1, [extra])
        _wait_json(powpeg, lambda r: r["height"] == 105 and r["total_sat"] == sum(PEGINS)
                   + 3_000_000)
        h.reorg(1)  # the new branch (two blocks) drops the 3 BTC peg-in
        _wait_json(powpeg, lambda r: r["height"] == 106 and r["total_sat"] == sum(PEGINS))
    except AssertionError as exc:
        failure = exc
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert failure is None, f"{failure}\ndaemon stderr:\n{err}"
    assert proc.returncode == 0, err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------- operator errors


def _one_line_error(res: subprocess.CompletedProcess[str], *secrets: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for s in secrets:
        assert s not in res.stderr and s not in res.stdout
    return lines[0]


def test_unreachable_node(tmp_path: Path) -> None:
    url = f"http://alice:n0de-s3cret@127.0.0.1:{free_port()}"
    res = run(["status", "--rpc", url, "--rpc-retry-seconds", "0.5",
               "--db", f"sqlite:///{tmp_path}/x.sqlite3"])
    line = _one_line_error(res, "n0de-s3cret")
    assert "cannot reach the Bitcoin node" in line


def test_wrong_password(chain: tuple[TestNode, Harness], tmp_path: Path) -> None:
    node, _ = chain
    bad = node.url.replace(node.credentials.password, "wr0ng-pass")
    res = run(["backfill", "--to", "5", "--rpc", bad, "--db", f"sqlite:///{tmp_path}/x.sqlite3"])
    line = _one_line_error(res, "wr0ng-pass", node.credentials.password)
    assert "credentials" in line


def test_unknown_chain(tmp_path: Path) -> None:
    core = FakeCore(chain="liquidv1")
    try:
        res = run(["status", "--rpc", core.url, "--db", f"sqlite:///{tmp_path}/x.sqlite3"])
    finally:
        core.stop()
    line = _one_line_error(res, core.password)
    assert "liquidv1" in line


def test_database_unreachable() -> None:
    res = run(["locked", "--db",
               f"postgresql+psycopg://bob:db-s3cret@127.0.0.1:{free_port()}/nowhere"])
    line = _one_line_error(res, "db-s3cret")
    assert "cannot open the database" in line


def test_chain_mismatch(chain: tuple[TestNode, Harness], params: Path, tmp_path: Path) -> None:
    node, _ = chain
    db = f"sqlite:///{tmp_path}/x.sqlite3"
    assert run(["backfill", "--to", "3", *_common(node, db, params)]).returncode == 0
    with TestNode(chain="main", port=0) as main:
        res = run(["backfill", "--to", "0", "--rpc", main.url, "--db", db])
    line = _one_line_error(res, main.credentials.password)
    assert "'regtest' chain" in line and "'main'" in line


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not valid JSON"),
    ('{"lightning": {}}', "unknown section"),
    ('{"powpeg": {"federations": "3abc"}}', "powpeg"),
    ('{"babylon": {"versions": [{"version": 0}]}}', "babylon"),
])
def test_bad_params_file(chain: tuple[TestNode, Harness], tmp_path: Path, content: str,
                         needle: str) -> None:
    node, _ = chain
    p = tmp_path / "params.json"
    p.write_text(content)
    res = run(["backfill", "--to", "2", *_common(node, f"sqlite:///{tmp_path}/x.sqlite3", p)])
    line = _one_line_error(res, node.credentials.password)
    assert needle in line and str(p) in line


def test_queries_before_indexing_and_bad_input(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/empty.sqlite3"
    assert "backfill" in _one_line_error(run(["locked", "--db", db]))
    assert "hex" in _one_line_error(run(["inspect", "tx", "zz", "--db", db]))
    assert "not a valid transaction" in _one_line_error(run(["inspect", "tx", "0100", "--db",
                                                             db]))
