"""PoX arithmetic: reward cycles and phases, the sunset burn, and per-cycle money totals.

stacks.md §2: cycle(h) = (h - first) // length; offsets 1…(length - prepare) of a cycle are
its reward phase, offset 0 and the last `prepare - 1` offsets are the prepare phase for
block-commit purposes. The totals helper sums `block_commit` events into what the Hiro API
calls BTC rewards (paid to reward addresses) and burns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adapters.stacks.params import StacksParams

__all__ = [
    "cycle_offset",
    "cycle_start",
    "cycle_totals",
    "expected_sunset_burn",
    "phase",
    "reward_cycle",
    "waterfall_start",
]


def reward_cycle(p: StacksParams, height: int) -> int | None:
    """The reward cycle `height` belongs to; None before the first burn height."""
    if height < p.first_burn_height:
        return None
    return (height - p.first_burn_height) // p.reward_cycle_length


def cycle_offset(p: StacksParams, height: int) -> int | None:
    if height < p.first_burn_height:
        return None
    return (height - p.first_burn_height) % p.reward_cycle_length


def cycle_start(p: StacksParams, cycle: int) -> int:
    """The offset-0 height of `cycle` (its first paying block is one later)."""
    return p.first_burn_height + cycle * p.reward_cycle_length


def phase(p: StacksParams, height: int) -> str:
    """`reward` (two commit outputs) or `prepare` (one burn output) at `height`."""
    off = cycle_offset(p, height)
    if off is None or off == 0 or off > p.reward_cycle_length - p.prepare_length:
        return "prepare"
    return "reward"


def waterfall_start(p: StacksParams) -> int | None:
    """First height of the PoX-5 single-output commit form: the start of the cycle after
    the one holding epoch 4.0 (stacks.md §1.10), or None when 4.0 is not configured."""
    h = p.epoch_height("4.0")
    if h is None:
        return None
    c = reward_cycle(p, h)
    return cycle_start(p, (c or 0) + 1) if c is not None else p.first_burn_height


def expected_sunset_burn(p: StacksParams, height: int, total_commit: int) -> int:
    """Minimum OP_RETURN value a reward-phase commit had to carry in epochs before 2.1.

    total * (first paying block of the cycle - sunset start) / (sunset end - sunset start),
    from the first cycle that starts after the sunset start (stacks.md §1.2).
    """
    s, e = p.sunset_start_height, p.sunset_end_height
    if s is None or e is None or e <= s or p.epoch_at_least(height, "2.1"):
        return 0
    if phase(p, height) != "reward":
        return 0
    c = reward_cycle(p, height)
    if c is None:
        return 0
    start = cycle_start(p, c) + 1
    if start <= s:
        return 0
    return total_commit * (min(start, e) - s) // (e - s)


def _zero() -> dict[str, Any]:
    return {"commits": 0, "paid_sat": 0, "burned_sat": 0, "op_return_sat": 0,
            "by_address": {}, "by_miner": {}}


def cycle_totals(events: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per reward cycle: commit count, BTC paid to reward addresses, burned, OP_RETURN
    value destroyed, and the paid split by address and the spend split by miner.

    Takes `block_commit` events as the `events` query returns them (a dict with `kind`
    and the event data either flattened or under `data`); other kinds are skipped.
    Commits before the first burn height (no cycle) are left out.
    """
    out: dict[int, dict[str, Any]] = {}
    for ev in events:
        if ev.get("kind") != "block_commit":
            continue
        data = ev.get("data", ev)
        cycle = data.get("reward_cycle")
        if cycle is None:
            continue
        t = out.setdefault(int(cycle), _zero())
        t["commits"] += 1
        t["paid_sat"] += int(data["paid_sat"])
        t["burned_sat"] += int(data["burned_sat"])
        t["op_return_sat"] += int(data.get("op_return_sat", 0))
        for o in data["commit_outputs"]:
            if not o["burn"]:
                addr = o["address"]
                t["by_address"][addr] = t["by_address"].get(addr, 0) + int(o["value_sat"])
        miner = data.get("sender") or data.get("miner_chain") or "unknown"
        t["by_miner"][miner] = t["by_miner"].get(miner, 0) + int(data["burn_fee_sat"])
    return out
