"""Crash safety: `lockedbtc backfill` killed with SIGKILL at random (seeded) moments, from
start-up through migration, node connection and every batch commit, then resumed.

After every kill the database must be exactly a prefix of an uninterrupted run (each table
equal, row for row, to the reference cut at the cursors: no partial height, no duplicate,
no spend recorded ahead of its cursor), and the run that finally completes must leave the
tables identical to the uninterrupted run. SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from regtest.node import TestNode
from tests.reliability.support import (
    activity_harness,
    children,
    cursors,
    diff,
    dump,
    kill_all,
    popen,
    run,
    truncated,
    write_params,
)

#: Heights per transaction: small, so that a kill has many commit points to land near.
BATCH = "7"


@dataclass
class Chain:
    node: TestNode
    tip: int
    params: Path


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with TestNode(port=0) as node:
        harness, params = activity_harness(node)
        path = write_params(tmp_path_factory.mktemp("crash") / "params.json", params)
        yield Chain(node, harness.tip()[0], path)


def _args(chain: Chain, db: str) -> list[str]:
    return ["backfill", "--from", "0", "--to", str(chain.tip), "--batch", BATCH, "--quiet",
            "--rpc", chain.node.url, "--db", db, "--params", str(chain.params)]


def crash_storm(chain: Chain, ref_url: str, url: str, kills: int, seed: int) -> dict[str, int]:
    """Kill backfills into `url` until `kills` kills happened, restarting from an empty
    database whenever one run completes; check the tables after every kill and every
    completion. Returns the counts."""
    t0 = time.monotonic()
    res = run(_args(chain, ref_url))
    assert res.returncode == 0, res.stderr
    clean = time.monotonic() - t0
    reference = dump(ref_url)
    rng = random.Random(seed)
    done_kills = completions = mid_index = 0
    db_index = 0
    target = url
    for _attempt in range(kills * 4):  # bounded: most attempts end in a kill
        if done_kills >= kills:
            break
        proc = popen(_args(chain, target), level="WARNING")
        # NOTE: the window covers interpreter start, migration, connection and indexing.
        delay = rng.uniform(0.05, clean * 1.1)
        try:
            rc = proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            kill_all(proc)
            done_kills += 1
            heights = {a: h for a, (h, _) in cursors(target).items()}
            if heights and max(heights.values()) < chain.tip:
                mid_index += 1
            if heights:
                problems = diff(dump(target), truncated(reference, heights))
                assert not problems, (f"after kill {done_kills} (cursors {heights}, seed "
                                      f"{seed}):\n{problems}")
            continue
        _out, err = proc.communicate(timeout=30)
        assert rc == 0, f"a resumed backfill failed after {done_kills} kills:\n{err}"
        completions += 1
        problems = diff(dump(target), reference)
        assert not problems, f"completed run differs from the clean run:\n{problems}"
        # Start a new round on a fresh database so later kills land mid-index again.
        if target.startswith("sqlite:///"):
            db_index += 1
            target = url.replace(".sqlite3", f"-{db_index}.sqlite3")
        else:
            _wipe(target)
    final = run(_args(chain, target))
    assert final.returncode == 0, final.stderr
    problems = diff(dump(target), reference)
    assert not problems, f"after {done_kills} kills the tables differ:\n{problems}"
    assert done_kills >= kills
    print(f"crash storm seed {seed}: {done_kills} kills ({mid_index} mid-index), "
          f"{completions} completed rounds")
    return {"kills": done_kills, "mid_index": mid_index, "completions": completions}


def _wipe(url: str) -> None:
    """Empty an indexed PostgreSQL schema (tables stay) for the next round."""
    from sqlalchemy import text

    from tests.reliability.support import engine_of

    with engine_of(url) as engine, engine.begin() as conn:
        for name in ("positions", "events", "rejects", "adapter_state", "cursors", "blocks",
                     "meta"):
            conn.execute(text(f"DELETE FROM {name}"))  # constant table names


def test_backfill_survives_20_kills(chain: Chain, db_pair: tuple[str, str]) -> None:
    counts = crash_storm(chain, *db_pair, kills=20, seed=7)
    # The storm is only worth something if kills landed while heights were being written.
    assert counts["mid_index"] >= 5, counts


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_backfill_survives_kill_storms(chain: Chain, db_pair: tuple[str, str],
                                       seed: int) -> None:
    counts = crash_storm(chain, *db_pair, kills=100, seed=seed)
    assert counts["mid_index"] >= 25, counts


def test_workers_do_not_outlive_a_killed_backfill(chain: Chain, tmp_path: Path) -> None:
    # Worker processes are the pool of the pure-Python walk (with the compiled one the
    # workers are threads, which die with the process).
    proc = popen([*_args(chain, f"sqlite:///{tmp_path}/w.sqlite3"), "--workers", "2"],
                 extra_env={"LOCKEDBTC_PURE_PYTHON": "1"})
    workers: list[int] = []
    try:
        for _ in range(200):  # wait (bounded) for the pool to start
            workers = [c for c in children(proc.pid)]
            if len(workers) >= 2 or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert workers, "no worker processes started"
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, as `kill -9 PID` does
        proc.wait(timeout=30)
        alive = workers
        for _ in range(100):  # give orphans up to ~10 s to notice and exit
            alive = [w for w in workers if Path(f"/proc/{w}").exists()
                     and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]]
            if not alive:
                break
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # never leave them behind
        proc.communicate(timeout=30)
    assert not alive, f"worker processes {alive} outlived the killed indexer"
