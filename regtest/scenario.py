"""Scenario files and the engine that replays them through a `Harness`.

A scenario (`regtest/scenarios/<name>.json`, format in `regtest/scenarios/README.md`) names
the params it needs and a list of steps: `mine`, `pay`, `tx`, `spend`, `reorg`,
`invalidate`, `expect`. Transactions built by a step wait in a local pending list and go
into the first block of the next `mine` (the node's mempool is never used, so bitcoind and
the test node see exactly the same blocks). `replay` returns what happened: block hashes
per height, txids and outputs by name, reorgs, and the `expect` blocks with the tip they
refer to, for tests to check against the indexer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regtest.build import Transaction, TxOutput
from regtest.harness import Harness
from regtest.keys import Key
from regtest.protocols import BuiltTx, ProtocolContext, get_builder
from regtest.scripts import multisig, op_return, p2pkh, p2sh, p2sh_p2wpkh, p2wpkh, p2wsh
from regtest.sign import Prevout
from regtest.taproot import TaprootOutput
from regtest.wallet import DEFAULT_FEE_SAT

_logger = logging.getLogger(__name__)

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
STEP_KINDS = ("mine", "pay", "tx", "spend", "reorg", "invalidate", "expect")
_TX_STEPS = ("pay", "tx", "spend")


class ScenarioError(ValueError):
    """A scenario file that cannot be replayed as written."""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    params: Mapping[str, Any]
    steps: list[dict[str, Any]]

    def write_params(self, path: Path) -> Path:
        """The params file (contract.md format) the indexer should run with."""
        path.write_text(json.dumps(self.params, indent=2, sort_keys=True))
        return path


def scenario_path(name: str) -> Path:
    return SCENARIO_DIR / f"{name}.json"


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load `regtest/scenarios/<name>.json`, or a path to a scenario file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = scenario_path(str(name_or_path))
    data = json.loads(path.read_text())
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise ScenarioError(f"{path}: a scenario needs a list of steps")
    for n, step in enumerate(steps):
        _check_step(step, n, STEP_KINDS)
    return Scenario(str(data.get("name", path.stem)), str(data.get("description", "")),
                    dict(data.get("params", {})), steps)


def _check_step(step: Any, n: int | str, allowed: tuple[str, ...]) -> str:
    if not isinstance(step, dict) or len(step) != 1 or next(iter(step)) not in allowed:
        raise ScenarioError(f"step {n}: expected one of {', '.join(allowed)} as the only "
                            f"key, got {step!r}")
    return str(next(iter(step)))


@dataclass(frozen=True)
class Expectation:
    """An `expect` step: its data and the chain tip it was written against."""

    step: int
    height: int
    block_hash: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class ReorgRecord:
    fork_height: int
    replaced: dict[int, str]
    new: dict[int, str]


@dataclass
class ReplayResult:
    """What a replay produced; `block_hashes` is the final active chain."""

    block_hashes: dict[int, str] = field(default_factory=dict)
    txids: dict[str, str] = field(default_factory=dict)
    tx_heights: dict[str, int | None] = field(default_factory=dict)
    outputs: dict[str, Prevout] = field(default_factory=dict)
    info: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    expectations: list[Expectation] = field(default_factory=list)
    reorgs: list[ReorgRecord] = field(default_factory=list)
    tip_height: int = 0
    tip_hash: str = ""


def destination(spec: Mapping[str, Any]) -> tuple[TxOutput, list[Key]]:
    """The output a `to` entry describes, and the keys that can spend it."""
    kind = spec.get("type", "p2wpkh")
    value = int(spec.get("value", 0))
    if kind in ("p2pkh", "p2wpkh", "p2sh-p2wpkh", "p2tr"):
        key = Key.from_label(str(spec["key"]))
        if kind == "p2tr":
            return TxOutput(value, TaprootOutput(key.xonly).script_pubkey), [key]
        script = {"p2pkh": p2pkh, "p2wpkh": p2wpkh, "p2sh-p2wpkh": p2sh_p2wpkh}[kind]
        return TxOutput(value, script(key.pubkey)), [key]
    if kind in ("p2wsh-multisig", "p2sh-multisig"):
        keys = [Key.from_label(str(k)) for k in spec["keys"]]
        ms = multisig(int(spec["m"]), [k.pubkey for k in keys])
        return TxOutput(value, p2wsh(ms) if kind == "p2wsh-multisig" else p2sh(ms)), keys
    if kind == "op_return":
        data = bytes.fromhex(spec["data"]) if "data" in spec else str(spec["text"]).encode()
        return TxOutput(value, op_return(data)), []
    if kind == "script":
        return TxOutput(value, bytes.fromhex(str(spec["script"]))), []
    raise ScenarioError(f"unknown destination type {kind!r}")


class Replayer:
    """Runs one scenario's steps through a harness."""

    def __init__(self, harness: Harness, scenario: Scenario) -> None:
        self.harness = harness
        self.scenario = scenario
        self.result = ReplayResult()
        self.pending: list[Transaction] = []
        self._txs: dict[str, Transaction] = {}

    # --- named things -------------------------------------------------------------------
    def resolve(self, ref: str) -> Prevout:
        """"name:vout", "name.label" (a builder's output name) or "name" (vout 0)."""
        key = ref if (":" in ref or "." in ref) else f"{ref}:0"
        try:
            return self.result.outputs[key]
        except KeyError:
            raise ScenarioError(f"no output named {ref!r}") from None

    def _record(self, name: str | None, tx: Transaction, labels: Mapping[str, int] = {},
                info: Mapping[str, Any] = {}) -> None:
        self.pending.append(tx)
        if name is None:
            return
        txid = tx.txid()
        self._txs[name] = tx
        self.result.txids[name] = txid
        self.result.tx_heights[name] = None
        for n, out in enumerate(tx.outputs):
            self.result.outputs[f"{name}:{n}"] = Prevout(txid, n, out.value, out.script_pubkey)
        for label, n in labels.items():
            self.result.outputs[f"{name}.{label}"] = self.result.outputs[f"{name}:{n}"]
        if info:
            self.result.info[name] = info

    def _outputs(self, specs: list[Mapping[str, Any]]) -> list[TxOutput]:
        outs = []
        for spec in specs:
            out, keys = destination(spec)
            if len(keys) == 1:
                self.harness.wallet.add_key(keys[0])
            elif keys:
                m = int(spec["m"])
                self.harness.wallet.add_multisig(
                    multisig(m, [k.pubkey for k in keys]), keys[:m])
            outs.append(out)
        return outs

    # --- steps --------------------------------------------------------------------------
    def _mine(self, arg: Any) -> None:
        n = int(arg["blocks"]) if isinstance(arg, dict) else int(arg)
        first = self.harness.tip()[0] + 1
        self.harness.mine(n, self.pending)
        ids = {tx.txid() for tx in self.pending}
        for name, txid in self.result.txids.items():
            if txid in ids:
                self.result.tx_heights[name] = first
        self.pending = []

    def _pay(self, arg: Mapping[str, Any]) -> None:
        tx = self.harness.wallet.send(self._outputs(arg["to"]),
                                      fee=int(arg.get("fee", DEFAULT_FEE_SAT)))
        self._record(arg.get("as"), tx)

    def _context(self) -> ProtocolContext:
        return ProtocolContext(self.harness.wallet, self.scenario.params,
                               self.harness.tip()[0] + 1, self.resolve)

    def _tx(self, arg: Mapping[str, Any], extra: Mapping[str, Any] = {}) -> None:
        builder = get_builder(str(arg["protocol"]), str(arg["builder"]))
        built: BuiltTx = builder(self._context(), {**dict(arg.get("args", {})), **extra})
        self._record(arg.get("as"), built.tx, built.outputs, built.info)

    def _spend(self, arg: Mapping[str, Any]) -> None:
        refs = [str(r) for r in arg.get("outputs", [arg.get("output")]) if r]
        if "protocol" in arg:
            self._tx(arg, {"outputs": refs})
            return
        tx = self.harness.wallet.spend_prevouts(
            [self.resolve(r) for r in refs], self._outputs(arg.get("to", [])),
            fee=int(arg.get("fee", DEFAULT_FEE_SAT)))
        self._record(arg.get("as"), tx)

    def _reorg(self, arg: Mapping[str, Any]) -> None:
        depth = int(arg["depth"])
        before = self.harness.block_hashes()
        self.pending = []
        fork, _ = self.harness.rewind(depth)
        for name, h in self.result.tx_heights.items():
            if h is not None and h > fork:
                self.result.tx_heights[name] = None
        for n, item in enumerate(arg.get("replay", [])):
            if isinstance(item, str):
                tx = self._txs.get(item)
                if tx is None:
                    raise ScenarioError(f"reorg replay names unknown transaction {item!r}")
                self.harness.wallet.add_pending(tx)
                self.pending.append(tx)
            else:
                self._run_step(item, f"replay {n}", _TX_STEPS)
        self._mine({"blocks": int(arg.get("blocks", depth + 1))})
        after = self.harness.block_hashes()
        self.result.reorgs.append(ReorgRecord(
            fork, {h: x for h, x in before.items() if h > fork},
            {h: x for h, x in after.items() if h > fork}))

    def _invalidate(self, arg: Mapping[str, Any]) -> None:
        self.pending = []
        self.harness.invalidate(self.harness.block_hash(int(arg["height"])))

    def _expect(self, arg: Mapping[str, Any], index: int) -> None:
        height, block_hash = self.harness.tip()
        self.result.expectations.append(Expectation(index, height, block_hash, dict(arg)))

    def _run_step(self, step: Mapping[str, Any], index: int | str,
                  allowed: tuple[str, ...] = STEP_KINDS) -> None:
        kind = _check_step(step, index, allowed)
        arg = step[kind]
        _logger.debug("step %s: %s", index, kind)
        if kind == "expect":
            self._expect(arg, index if isinstance(index, int) else -1)
            return
        handler = {"mine": self._mine, "pay": self._pay, "tx": self._tx, "spend": self._spend,
                   "reorg": self._reorg, "invalidate": self._invalidate}[kind]
        handler(arg)

    def run(self) -> ReplayResult:
        for index, step in enumerate(self.scenario.steps):
            self._run_step(step, index)
        if self.pending:
            raise ScenarioError(f"{len(self.pending)} transactions left unmined: end the "
                                "scenario with a mine step")
        self.result.block_hashes = self.harness.block_hashes()
        self.result.tip_height, self.result.tip_hash = self.harness.tip()
        return self.result


def replay(scenario: Scenario | str | Path, node_url: str) -> ReplayResult:
    """Replay a scenario (object, name or path) on the node at `node_url`."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    harness = Harness(node_url)
    try:
        return Replayer(harness, scenario).run()
    finally:
        harness.rpc.close()
