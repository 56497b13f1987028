"""Babylon BTC staking seen from the Bitcoin chain alone (spec: shared/specs/babylon.md).

Phase-1 stakes are found by their tagged 71-byte OP_RETURN and the taproot output rebuilt
from it; their unbondings, withdrawals, slashings and expansions by the leaf each spend
reveals; phase-2 stakes (no OP_RETURN) only when a spend proves them Babylon.
"""

from adapters.babylon.adapter import BabylonAdapter

__all__ = ["BabylonAdapter"]
