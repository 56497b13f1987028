"""A parallel backfill indexes exactly what a single-worker backfill does.

Each scenario chain (protocol activity from regtest/scenarios) is backfilled twice into the
same database, once with `--workers 2` and once with `--workers 1` after wiping it; every
indexed table must come out identical, row for row, on SQLite and PostgreSQL, with both
kinds of pool: threads over the compiled walk, and processes over the pure-Python walk
(what a machine without a C compiler at install time runs).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from indexer.backfill import PIPELINE_MIN_BLOCKS, run_backfill
from indexer.chain import block as blockmod
from indexer.config import Settings
from indexer.db.engine import make_engine
from indexer.db.migrate import migrate
from indexer.db.store import Store
from regtest.node import TestNode
from regtest.scenario import load_scenario, replay
from tests.support.dump import dump

# Scenarios without reorg steps: a backfill sees their final chain only.
SCENARIOS = ["babylon_lifecycle", "coredao_shapes", "powpeg_pegins", "stacks_sbtc"]


@pytest.fixture(params=["threads", "processes"])
def pool(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The kind of pool the parallel backfill must use: threads need the compiled walk;
    processes run when it is absent (forced here, in this process and in the workers)."""
    if request.param == "threads":
        if blockmod._native is None:
            pytest.skip("the compiled walk is not built here (no C compiler at install?)")
    else:
        monkeypatch.setenv("LOCKEDBTC_PURE_PYTHON", "1")
        monkeypatch.setattr(blockmod, "_native", None)
    return str(request.param)


def _backfill(settings: Settings, workers: int, batch: int) -> None:
    run_backfill(settings, 0, None, [], batch, True, threading.Event(), workers)


@pytest.mark.parametrize("name", SCENARIOS)
def test_parallel_backfill_matches_single_worker(name: str, pool: str, db_url: str,
                                                 tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    scenario = load_scenario(name)
    engine = make_engine(db_url)
    migrate(engine)
    with TestNode(port=0) as node:
        result = replay(scenario, node.url)
        assert result.tip_height + 1 >= PIPELINE_MIN_BLOCKS, "chain too short for workers"
        settings = Settings(db=db_url, rpc=node.url,
                            params=scenario.write_params(tmp_path / "params.json"),
                            rpc_retry_seconds=5)
        # An odd batch size makes batches straddle the workers' chunks.
        with caplog.at_level(logging.INFO, logger="indexer.backfill"):
            _backfill(settings, workers=2, batch=7)
        assert f"2 worker {pool}" in caplog.text
        parallel = dump(engine)
        Store(engine).rollback_above(-1)
        assert all(not rows for rows in dump(engine).values())
        _backfill(settings, workers=1, batch=100)
        single = dump(engine)
    engine.dispose()
    assert parallel["blocks"] and len(parallel["blocks"]) == result.tip_height + 1
    assert _some_activity(single), f"scenario {name} indexed nothing: a vacuous comparison"
    for table in single:
        assert parallel[table] == single[table], f"table {table} differs"


def _some_activity(tables: dict[str, list[Any]]) -> bool:
    return bool(tables["positions"] or tables["events"] or tables["rejects"])


def test_parallel_backfill_resumes_and_is_a_no_op_when_done(pool: str, tmp_path: Path) -> None:
    """Stopped midway (by --to), a parallel backfill resumes where it stopped, and a
    re-run over a done range changes nothing."""
    scenario = load_scenario("coredao_shapes")
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    ref = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    with TestNode(port=0) as node:
        replay(scenario, node.url)
        params = scenario.write_params(tmp_path / "params.json")
        s = Settings(db=url, rpc=node.url, params=params, rpc_retry_seconds=5)
        run_backfill(s, 0, 70, [], 10, True, threading.Event(), 2)
        run_backfill(s, None, None, [], 10, True, threading.Event(), 2)
        first = dump(make_engine(url))
        run_backfill(s, None, None, [], 10, True, threading.Event(), 2)
        assert dump(make_engine(url)) == first
        r = Settings(db=ref, rpc=node.url, params=params, rpc_retry_seconds=5)
        run_backfill(r, 0, None, [], 100, True, threading.Event(), 1)
    assert first == dump(make_engine(ref))


def test_benchmark_quick_run_writes_a_complete_report(tmp_path: Path) -> None:
    """`python -m bench.run --quick` runs end to end and reports every measurement."""
    from bench.run import main

    out = tmp_path / "report.json"
    assert main(["--quick", "--cache", str(tmp_path / "cache"), "--out", str(out),
                 "--no-etl"]) == 0
    report = json.loads(out.read_text())
    assert report["chain"]["blocks"] == 70
    res = report["results"]
    for name in ("rest_fetch", "rpc_fetch", "lockedbtc_sqlite"):
        assert res[name]["blocks"] == 70 and res[name]["blocks_per_s"] > 0
    assert res["lockedbtc_sqlite"]["indexed"]["blocks"] == 70
    assert "blocks_per_s" in res["lockedbtc_postgresql"] or "skipped" in res[
        "lockedbtc_postgresql"]
    assert res["bitcoin_etl"] == {"skipped": "--no-etl"}
    assert set(report["ratios"]) >= {"postgresql_vs_bitcoin_etl", "postgresql_vs_rest_fetch"}
