"""One entry point from a framed transaction to a decoded op (pure).

Applies the epoch's framing rules (stacks.md §1.1: output and input types before/after
2.1) and dispatches to the per-op decoder. `height=None` (inspect: no block) applies the
2.1+ rules and skips every height-dependent check.
"""

from __future__ import annotations

from typing import Any

from adapters.stacks import ops
from adapters.stacks.commit import decode_commit
from adapters.stacks.ops import Frame, OpRejected
from adapters.stacks.params import StacksParams
from indexer.chain.block import Tx

__all__ = ["decode_op"]


def decode_op(p: StacksParams, tx: Tx, frame: Frame, height: int | None,
              chain: str) -> dict[str, Any]:
    """The op's fields (plus `magic`, `opcode`); raises OpRejected with the reason."""
    name = ops.OPCODES.get(frame.opcode)
    if name is None:
        raise OpRejected("unknown", ops.LOOKALIKES.get(
            frame.opcode, f"unknown opcode 0x{frame.opcode:02x} after the magic"))
    pre_21 = height is not None and not p.epoch_at_least(height, "2.1")
    try:
        outs = ops.check_outputs(tx, segwit_ok=not pre_21)
        ops.check_inputs(tx, pre_21)
    except OpRejected as exc:
        raise OpRejected(name, exc.reason) from None
    mainnet = chain == "main"
    data: dict[str, Any]
    if name == "block_commit":
        data = decode_commit(p, tx, frame, outs, height, chain)
    elif name == "leader_key_register":
        nakamoto = height is None or p.epoch_at_least(height, "3.0")
        data = ops.decode_key_register(frame, outs, nakamoto)
    elif name == "pre_stx":
        data = ops.decode_pre_stx(frame, outs, mainnet)
    elif name == "stack_stx":
        data = ops.decode_stack_stx(frame, tx, outs, chain)
    elif name == "transfer_stx":
        data = ops.decode_transfer_stx(frame, outs, mainnet)
    elif name == "delegate_stx":
        data = ops.decode_delegate_stx(frame, tx, outs, chain)
    else:
        data = ops.decode_vote(frame, tx)
    data["magic"] = frame.magic.decode("ascii", "replace")
    data["opcode"] = chr(frame.opcode)
    return data
