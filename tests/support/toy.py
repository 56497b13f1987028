"""A minimal adapter for testing the core: every output to TOY_SCRIPT is a locked position;
spending one is a `withdraw` event; a state counter counts deposits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.base import Adapter, Event, NewPosition, ScanView, StateUpdate
from indexer.chain.block import Block, Tx
from tests.support.chain import TOY_SCRIPT


class ToyAdapter(Adapter):
    name = "toy"

    def __init__(self, start: int = 1) -> None:
        self._start = start

    @classmethod
    def from_params(cls, chain: str, section: Mapping[str, Any] | None) -> ToyAdapter:
        return cls(int((section or {}).get("start", 1)))

    def start_height(self) -> int:
        return self._start

    def needles(self, state: Mapping[str, Any]) -> Sequence[bytes]:
        return (TOY_SCRIPT,)

    def scan(self, block: Block, view: ScanView) -> None:
        count = view.state("deposits", 0)
        for tx in block.txs:
            for txin in tx.inputs:
                pos = view.spent_position(txin)
                if pos is not None:
                    view.mark_spent(txin)
                    view.emit(Event(tx.index, tx.txid, "withdraw", pos.value_sat,
                                    {"from": f"{pos.txid}:{pos.vout}"}))
            for vout, out in enumerate(tx.outputs):
                if out.script_pubkey == TOY_SCRIPT:
                    count += 1
                    view.emit(NewPosition(tx.index, tx.txid, vout, out.value, "active",
                                          data={"n": count}))
                    view.emit(Event(tx.index, tx.txid, "deposit", out.value))
        if count != view.state("deposits", 0):
            view.emit(StateUpdate("deposits", count))

    def inspect(self, tx: Tx, chain: str) -> list[dict[str, Any]]:
        return [{"protocol": "toy", "kind": "deposit", "vout": i, "value_sat": o.value}
                for i, o in enumerate(tx.outputs) if o.script_pubkey == TOY_SCRIPT]
