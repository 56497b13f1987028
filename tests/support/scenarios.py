"""Replaying a scenario while the indexer follows it: at every `expect` step the indexer
catches up with the node (rolling back any reorg the scenario made) and the expectation
is checked against the tables.

Expectation keys the indexer checks (all optional; counts are exact):
- `tip_height`: the harness tip;
- `locked`: `{"total_sat": N, "<protocol>": N}` locked satoshis at the tip;
- `positions`: `{"<protocol>": {"<status>": count}}` unspent positions at the tip;
- `events`: `{"<protocol>": {"<kind>": count}}` events up to the tip;
- `rejects`: `{"<protocol>": count}`;
- `detail`: `{"<protocol>": {"<key>": value}}` fields of the protocol's `locked` line.
`confirmed` / `unconfirmed` are the harness's own and are not checked here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from adapters.base import Adapter
from indexer.chain.source import NodeSource
from indexer.config import build_adapters
from indexer.db import queries
from indexer.db.store import Store
from indexer.sync import Syncer
from regtest.harness import Harness
from regtest.scenario import Replayer, Scenario

_HARNESS_KEYS = {"tip_height", "confirmed", "unconfirmed"}
_INDEXER_KEYS = {"locked", "positions", "events", "rejects", "detail"}


@dataclass
class Checked:
    step: int
    height: int
    mismatches: list[str] = field(default_factory=list)


def check_expectation(engine: Engine, adapters: Mapping[str, Adapter], data: Mapping[str, Any],
                      height: int) -> list[str]:
    bad: list[str] = []
    unknown = set(data) - _HARNESS_KEYS - _INDEXER_KEYS
    if unknown:
        bad.append(f"unknown expectation keys {sorted(unknown)}")
    with engine.connect() as conn:
        lines = {n: queries.locked_summary(conn, n, height) for n in adapters}
        for proto, want in data.get("locked", {}).items():
            got = (sum(v["locked_sat"] for v in lines.values()) if proto == "total_sat"
                   else lines[proto]["locked_sat"])
            if got != want:
                bad.append(f"locked {proto}: got {got}, want {want}")
        for proto, want in data.get("detail", {}).items():
            detail = adapters[proto].locked_detail_at(
                queries.locked_positions(conn, proto, height), height=height,
                median_time=queries.median_time_past(conn, height))
            for k, v in want.items():
                if detail.get(k) != v:
                    bad.append(f"detail {proto}.{k}: got {detail.get(k)!r}, want {v!r}")
    for proto, want in data.get("positions", {}).items():
        got = Counter(p["status"] for p in queries.positions(engine, proto, height))
        if dict(got) != dict(want):
            bad.append(f"positions {proto}: got {dict(got)}, want {dict(want)}")
    for proto, want in data.get("events", {}).items():
        got = Counter(e["kind"] for e in queries.events(engine, proto, high=height))
        if dict(got) != dict(want):
            bad.append(f"events {proto}: got {dict(got)}, want {dict(want)}")
    for proto, want in data.get("rejects", {}).items():
        got_n = len(queries.rejects(engine, proto, high=height))
        if got_n != want:
            bad.append(f"rejects {proto}: got {got_n}, want {want}")
    return bad


class IndexingReplayer(Replayer):
    """A replayer that indexes what it has built at each `expect` step."""

    def __init__(self, harness: Harness, scenario: Scenario, node: NodeSource,
                 store: Store) -> None:
        super().__init__(harness, scenario)
        self.adapters = {a.name: a for a in build_adapters("regtest", scenario.params)}
        self.store = store
        self.syncer = Syncer(node, store, list(self.adapters.values()), "regtest",
                             batch_blocks=50)
        self.node = node
        self.checked: list[Checked] = []

    def catch_up(self) -> int:
        self.syncer.check_reorg()
        tip = self.node.tip()[0]
        start = self.syncer.next_height()
        if start <= tip:
            self.syncer.sync(start, tip)
        return tip

    def _expect(self, arg: Mapping[str, Any], index: int) -> None:
        super()._expect(arg, index)
        tip = self.catch_up()
        height, _ = self.harness.tip()
        found = [] if tip == height else [f"node tip {tip} != harness tip {height}"]
        if "tip_height" in arg and arg["tip_height"] != height:
            found.append(f"tip_height: got {height}, want {arg['tip_height']}")
        found += check_expectation(self.store.engine, self.adapters, arg, height)
        self.checked.append(Checked(index, height, found))
