"""`lockedbtc demo`: a node, every scenario replayed on it, the chain indexed into a fresh
SQLite file, and the locked-BTC report.

The node is a real `bitcoind -regtest` when one is found, else the project's test node
(`regtest.backend.start_node`). Scenarios run one after another on the same chain; their
params sections are merged (a scenario whose section contradicts an earlier one is
skipped, and the demo says so).
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from indexer.app import locked_report, open_store
from indexer.backfill import run_backfill
from indexer.config import Settings
from regtest.backend import start_node
from regtest.harness import Harness
from regtest.scenario import SCENARIO_DIR, Replayer, Scenario, load_scenario

_logger = logging.getLogger(__name__)


def merge_params(scenarios: Sequence[Scenario]) -> tuple[dict[str, Any], list[Scenario]]:
    """One params file for all scenarios; those that contradict it are left out, and so
    are those that `invalidate` an absolute height (on the shared demo chain that height
    belongs to an earlier scenario, whose history it would erase)."""
    merged: dict[str, Any] = {}
    kept: list[Scenario] = []
    for sc in scenarios:
        if any("invalidate" in step for step in sc.steps):
            _logger.info("demo: skipping scenario %s (it invalidates an absolute height)",
                         sc.name)
            continue
        clash = [k for k, v in sc.params.items() if k in merged and merged[k] != v]
        if clash:
            _logger.warning("demo: skipping scenario %s (its %s params differ from an "
                            "earlier scenario's)", sc.name, ", ".join(clash))
            continue
        merged.update(sc.params)
        kept.append(sc)
    return merged, kept


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_demo(db_path: str, *, quiet: bool = False,
             scenario_names: Sequence[str] | None = None) -> dict[str, Any]:
    names = list(scenario_names) if scenario_names else sorted(
        p.stem for p in SCENARIO_DIR.glob("*.json"))
    params, scenarios = merge_params([load_scenario(n) for n in names])
    db = Path(db_path).resolve()
    _remove_sqlite(db)
    with start_node() as node, tempfile.TemporaryDirectory() as tmp:
        harness = Harness(node.url)
        try:
            for sc in scenarios:
                _logger.info("demo: replaying scenario %s (%d steps)", sc.name, len(sc.steps))
                Replayer(harness, sc).run()
        finally:
            harness.rpc.close()
        params_file = Path(tmp) / "params.json"
        params_file.write_text(json.dumps(params, indent=2, sort_keys=True))
        settings = Settings(db=f"sqlite:///{db}", rpc=node.url, params=params_file,
                            rpc_retry_seconds=10.0)
        run_backfill(settings, 0, None, [], 100, quiet, threading.Event())
        report = locked_report(open_store(settings), settings, None, None)
    _logger.info("demo: database left at %s (try `lockedbtc --db sqlite:///%s events "
                 "--protocol babylon`)", db, db)
    return report


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def demo_notes(db_path: str) -> list[str]:
    """Lines printed under the demo's table: each protocol's story in one or two lines."""
    from adapters.stacks.pox import cycle_totals  # regtest may use adapters; the core may not
    from indexer.db import queries
    from indexer.db.engine import make_engine
    from indexer.render import btc

    engine = make_engine(f"sqlite:///{Path(db_path).resolve()}")
    notes: list[str] = []
    stakes = queries.positions(engine, "babylon", queries.indexed_height(engine) or 0)
    if stakes:
        stakers = {p["staker_pk"] for p in stakes if p.get("staker_pk")}
        fps = {p["finality_provider_pk"] for p in stakes if p.get("finality_provider_pk")}
        notes.append(f"babylon: {_n(len(stakers), 'staker')} behind "
                     f"{_n(len(fps), 'finality provider')} hold "
                     f"{_n(len(stakes), 'locked output')}")
    cycles = cycle_totals(queries.events(engine, "stacks", kinds=["block_commit"]))
    if cycles:
        last = max(cycles)
        t = cycles[last]
        notes.append(f"stacks PoX: reward cycle {last}: {_n(t['commits'], 'block-commit')} "
                     f"paid {btc(t['paid_sat'])} BTC to stackers and burned "
                     f"{btc(t['burned_sat'])} BTC ({_n(len(t['by_miner']), 'miner')})")
    peg = [p for p in queries.positions(engine, "stacks", queries.indexed_height(engine) or 0)
           if p["status"] == "peg"]
    if peg:
        notes.append(f"stacks sBTC: peg UTXO {peg[0]['txid']}:{peg[0]['vout']} holds "
                     f"{btc(sum(p['value_sat'] for p in peg))} BTC")
    engine.dispose()
    return notes
