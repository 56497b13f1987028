"""Every scenario in regtest/scenarios replays on the test node, deterministically, and
the indexer following it meets each of its `expect` steps (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from indexer.chain.source import connect
from indexer.db.engine import make_engine
from indexer.db.migrate import migrate
from indexer.db.store import Store
from regtest.harness import Harness
from regtest.node import TestNode
from regtest.scenario import SCENARIO_DIR, load_scenario, replay
from tests.support.scenarios import IndexingReplayer

SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("*.json"))


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_meets_its_expectations(name: str, db_url: str) -> None:
    scenario = load_scenario(name)
    engine = make_engine(db_url)
    migrate(engine)
    with TestNode(port=0) as node:
        source = connect(node.url, retry_seconds=5)
        harness = Harness(node.url)
        replayer = IndexingReplayer(harness, scenario, source, Store(engine))
        replayer.run()
        replayer.catch_up()
        source.close()
    assert replayer.checked, f"scenario {name} has no expect step"
    failures = [f"step {c.step} (height {c.height}): {m}" for c in replayer.checked
                for m in c.mismatches]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_block_hashes_are_deterministic(name: str) -> None:
    runs = []
    for _ in range(2):
        with TestNode(port=0) as node:
            runs.append(replay(name, node.url).block_hashes)
    assert runs[0] == runs[1]
