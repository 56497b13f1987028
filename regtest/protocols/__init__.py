"""Registry of protocol transaction builders that scenarios call by name.

A scenario step `{"tx": {"protocol": "babylon", "builder": "stake", "args": {...}}}` runs
`BUILDERS["babylon"]["stake"](ctx, args)`. To add a protocol, write
`regtest/protocols/<name>.py` exposing `BUILDERS: dict[str, TxBuilder]` and add one line
to the literal `MODULES` below (no discovery magic).

The interface a builder implements:

    def stake(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx

- `ctx.wallet` funds and signs (`ctx.wallet.send(outputs, fee=...)`, `ctx.wallet.spend(
  [Spend(prevout, signer)], outputs)`); every tx it returns is already signed and pending.
- `ctx.key(label)` is the deterministic key a label names (the same in every run).
- `ctx.params` is the scenario's params-file content (contract.md), e.g.
  `ctx.params["babylon"]["versions"][0]["tag"]`; `ctx.network` is "regtest".
- `ctx.output(ref)` resolves an earlier named output ("stake1:0", or "stake1" for vout 0)
  to a `Prevout`; `ctx.next_height` is the height the tx will be mined at (for timelocks).
- `args` are the step's arguments as written in the scenario (JSON types).

A builder returns `BuiltTx(tx, outputs={"staking": 0, ...}, info={...})`: `outputs` names
vouts for later steps (reachable as "<as>.<name>" besides "<as>:<vout>"), `info` is
free-form data copied into the replay result (e.g. the expected staker key) for tests.
A builder that spends a protocol output it created earlier registers nothing with the
wallet: it signs the input itself with `regtest.sign` (e.g. `sign_p2tr_script`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from regtest.build import Transaction
from regtest.keys import Key

if TYPE_CHECKING:
    from regtest.sign import Prevout
    from regtest.wallet import Wallet


@dataclass(frozen=True)
class BuiltTx:
    """A signed transaction from a builder, with names for its interesting outputs."""

    tx: Transaction
    outputs: Mapping[str, int] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ProtocolContext:
    """What a builder may use: the wallet, keys, params, earlier outputs."""

    wallet: Wallet
    params: Mapping[str, Any]
    next_height: int
    resolve: Callable[[str], Prevout]
    network: str = "regtest"

    def key(self, label: str) -> Key:
        return Key.from_label(label)

    def output(self, ref: str) -> Prevout:
        return self.resolve(ref)


TxBuilder = Callable[[ProtocolContext, dict[str, Any]], BuiltTx]

#: protocol name -> module exposing `BUILDERS: dict[str, TxBuilder]`. Imported on first use
#: so a scenario needs only the protocols it names.
MODULES: dict[str, str] = {
    "babylon": "regtest.protocols.babylon",
    "stacks": "regtest.protocols.stacks",
    "powpeg": "regtest.protocols.powpeg",
    "coredao": "regtest.protocols.coredao",
}


def builders(protocol: str) -> Mapping[str, TxBuilder]:
    if protocol not in MODULES:
        raise KeyError(f"no protocol {protocol!r}; known: {', '.join(MODULES)}")
    found: Mapping[str, TxBuilder] = importlib.import_module(MODULES[protocol]).BUILDERS
    return found


def get_builder(protocol: str, name: str) -> TxBuilder:
    table = builders(protocol)
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"no builder {protocol}.{name}; {protocol} has: "
                       f"{', '.join(sorted(table))}") from None
