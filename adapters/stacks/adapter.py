"""The Stacks adapter: PoX burnchain operations (flows) and the sBTC peg (locked BTC).

What it records, per block, in transaction order:
- every Stacks op with our magic at output 0 as an event (`block_commit`,
  `leader_key_register`, `pre_stx`, `stack_stx`, `transfer_stx`, `delegate_stx`,
  `vote_for_aggregate_key`), or `Rejected` with the reason;
- commits are flows, never locked BTC. Their change output is kept as an unlocked
  position (`commit_change`) so that the miner's next commit, which must spend it as
  input 0, is linked through `spent_position` (a `miner_chain` id carried along); a
  pre-stx's vout 1 likewise (`pre_stx`, unlocked) so later ops learn their sender;
- the sBTC peg UTXO (`peg`, locked) and plain payments to peg addresses (`loose`,
  locked), followed through sweeps and key rotations; events `sbtc_sweep`,
  `sbtc_deposit`, `sbtc_withdrawal`, `sbtc_reclaim`. Peg scripts learned from the chain
  are kept in state under `sbtc_peg_scripts` (hex list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from adapters.base import (
    JSON,
    Adapter,
    Event,
    InOpReturn,
    Needle,
    NewPosition,
    Position,
    Rejected,
    ScanView,
    StateUpdate,
)
from adapters.stacks import sweeps
from adapters.stacks.addresses import bitcoin_address, classify_script
from adapters.stacks.decode import decode_op
from adapters.stacks.inspect import inspect_tx
from adapters.stacks.ops import LOOKALIKES, OPCODES, OpRejected, read_frame
from adapters.stacks.params import StacksParams
from adapters.stacks.sbtc import NUMS_KEY
from indexer.chain.block import Block, Tx

__all__ = ["StacksAdapter"]

STATE_PEG_SCRIPTS = "sbtc_peg_scripts"
#: A script-path control block under the NUMS internal key starts with one of these
#: (leaf version 0xc0, output key parity in bit 0; BIP341).
NUMS_CONTROL_PREFIXES = (b"\xc0" + NUMS_KEY, b"\xc1" + NUMS_KEY)
_SENDER_OPS = ("stack_stx", "transfer_stx", "delegate_stx", "vote_for_aggregate_key")


class StacksAdapter(Adapter):
    name: ClassVar[str] = "stacks"

    def __init__(self, params: StacksParams) -> None:
        self.params = params

    @classmethod
    def from_params(cls, chain: str, section: Mapping[str, Any] | None) -> StacksAdapter:
        return cls(StacksParams.build(chain, section))

    def start_height(self) -> int:
        return self.params.first_burn_height

    def _peg_scripts(self, state: Mapping[str, Any] | ScanView) -> set[bytes]:
        learned = (state.state(STATE_PEG_SCRIPTS, []) if isinstance(state, ScanView)
                   else state.get(STATE_PEG_SCRIPTS, []))
        return set(self.params.sbtc_peg_scripts) | {bytes.fromhex(h) for h in learned}

    def needles(self, state: Mapping[str, Any]) -> Sequence[Needle]:
        # What a tx must hold for `scan` to do anything with it (sweeps spending the
        # tracked peg UTXO, and ops spending a tracked commit change or pre-stx output,
        # reach it through the outline whatever they hold):
        # - an op: the 2-byte magic alone, not magic+known opcode, because an unknown
        #   opcode or broken framing after the magic is reported as `Rejected` too.
        #   Searched in OP_RETURN scripts only (`scan` reads output 0's OP_RETURN): over
        #   the whole block a 2-byte needle hits ~25 random places in every mainnet block;
        # - an unlinked sweep or a reclaim: an input whose control block is `c0|c1 ||
        #   NUMS` (`sbtc.leaf_under` checks the leaf version and the key), so
        #   that prefix rather than the bare key, which ordinary taproot spends also hold;
        # - a loose payment: the peg scriptPubKey it pays (state-learned ones included).
        return [InOpReturn(self.params.magic), *NUMS_CONTROL_PREFIXES,
                *sorted(self._peg_scripts(state))]

    # ------------------------------------------------------------ scan

    def scan(self, block: Block, view: ScanView) -> None:
        known = self._peg_scripts(view)
        nums_txs = _txs_containing(block, NUMS_KEY)
        magic = self.params.magic
        for tx in block.txs:
            if tx.is_coinbase or not tx.inputs:
                continue
            spent0 = view.spent_position(tx.inputs[0])
            first_loose = 0
            if spent0 is not None and spent0.status in sweeps.PEG_STATUSES:
                self._sweep(tx, view, spent0, known)
                first_loose = 1  # output 0 of a sweep is the peg itself
            elif tx.index in nums_txs and self._nums_tx(tx, view, known):
                first_loose = 1
            else:
                s0 = tx.outputs[0].script_pubkey if tx.outputs else b""
                if s0[:1] == b"\x6a" and magic in s0[:6]:
                    self._op(tx, view, spent0)
            for vout in range(first_loose, len(tx.outputs)):
                out = tx.outputs[vout]
                if out.script_pubkey in known:
                    view.emit(NewPosition(tx.index, tx.txid, vout, out.value, "loose", True,
                                          {"address": _addr(out.script_pubkey, view.chain)}))

    def _sweep(self, tx: Tx, view: ScanView, spent0: Position | None,
               known: set[bytes]) -> None:
        recs, learned = sweeps.sweep_records(tx, view, spent0, known,
                                             self.params.sbtc_op_return_magic)
        for r in recs:
            view.emit(r)
        if learned:
            prior = list(view.state(STATE_PEG_SCRIPTS, []))
            add = sorted(s.hex() for s in learned - set(self.params.sbtc_peg_scripts))
            new = [*prior, *(h for h in add if h not in prior)]
            if new != prior:
                view.emit(StateUpdate(STATE_PEG_SCRIPTS, new))
            known |= learned

    def _nums_tx(self, tx: Tx, view: ScanView, known: set[bytes]) -> bool:
        """An unlinked sweep (handled, True) or reclaims (events, False)."""
        if sweeps.is_unlinked_sweep(tx, self.params.sbtc_op_return_magic):
            self._sweep(tx, view, None, known)
            return True
        for rc in sweeps.reclaim_inputs(tx, view.chain):
            view.emit(Event(tx.index, tx.txid, "sbtc_reclaim", None, rc))
        return False

    def _op(self, tx: Tx, view: ScanView, spent0: Position | None) -> None:
        try:
            frame = read_frame(tx, (self.params.magic,))
        except OpRejected as exc:
            view.emit(Rejected(tx.index, tx.txid, exc.reason, {"op": exc.op}))
            return
        if frame is None:
            return
        op = OPCODES.get(frame.opcode)
        if op is None:
            reason = LOOKALIKES.get(frame.opcode,
                                    f"unknown opcode 0x{frame.opcode:02x} after the magic")
            view.emit(Rejected(tx.index, tx.txid, reason, {"opcode": frame.opcode}))
            return
        try:
            data = decode_op(self.params, tx, frame, view.height, view.chain)
            if op in _SENDER_OPS:
                data["sender"] = _sender(tx, spent0, op)
                if op == "transfer_stx" and data["sender"] == data["recipient"]:
                    raise OpRejected(op, "sender and recipient are the same")
        except OpRejected as exc:
            view.emit(Rejected(tx.index, tx.txid, exc.reason, {"op": exc.op}))
            return
        if op == "block_commit":
            self._commit(tx, view, spent0, data)
            return
        amount = None
        view.emit(Event(tx.index, tx.txid, op, amount, data))
        if op == "pre_stx":
            out1 = tx.outputs[1]
            view.emit(NewPosition(tx.index, tx.txid, 1, out1.value, "pre_stx", False,
                                  {"sender": data["sender"]}))
        elif spent0 is not None:
            view.mark_spent(tx.inputs[0])

    def _commit(self, tx: Tx, view: ScanView, spent0: Position | None, data: JSON) -> None:
        if spent0 is not None and spent0.status == "commit_change":
            data["prev_commit_txid"] = spent0.txid
            data["miner_chain"] = spent0.data.get("miner_chain", spent0.txid)
            view.mark_spent(tx.inputs[0])
        else:
            data["prev_commit_txid"] = None
            data["miner_chain"] = tx.txid
        view.emit(Event(tx.index, tx.txid, "block_commit", data["burn_fee_sat"], data))
        change = data["change_output"]
        if change is not None:
            view.emit(NewPosition(tx.index, tx.txid, change["vout"], change["value_sat"],
                                  "commit_change", False,
                                  {"miner_chain": data["miner_chain"],
                                   "sender": data["sender"]}))

    # ------------------------------------------------------------ inspect, locked

    def inspect(self, tx: Tx, chain: str) -> list[JSON]:
        return inspect_tx(self.params, tx, chain)

    def locked_detail(self, positions: Sequence[Position]) -> JSON:
        peg = [p for p in positions if p.status == "peg"]
        loose = [p for p in positions if p.status == "loose"]
        return {"peg_utxo_sat": sum(p.value_sat for p in peg),
                "loose_sat": sum(p.value_sat for p in loose),
                "peg_utxos": len(peg), "loose_payments": len(loose)}


def _sender(tx: Tx, spent0: Position | None, op: str) -> str:
    """The sender proven by input 0 spending vout 1 of a pre-stx (stacks.md §1.4)."""
    if tx.inputs[0].prev_vout != 1 or spent0 is None or spent0.status != "pre_stx":
        raise OpRejected(op, "input 0 does not spend vout 1 of a pre-stx")
    sender: str = spent0.data["sender"]
    return sender


def _addr(spk: bytes, chain: str) -> str | None:
    info = classify_script(spk)
    return bitcoin_address(info, chain) if info else None


def _txs_containing(block: Block, needle: bytes) -> set[int]:
    """Indexes of the transactions in `block.txs` whose bytes contain `needle`.

    Searched transaction by transaction: the syncer hands over a handful, and a pass
    over the whole 1.6 MB block would cost more than all of them.
    """
    return {tx.index for tx in block.txs if tx.holds(needle)}
