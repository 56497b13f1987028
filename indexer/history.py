"""Locked BTC per protocol over time: `lockedbtc history`, `/api/history` and the plots.

A protocol's locked amount is a step function of height: +value at the height a locked
output is recorded, -value at the height it is spent. The steps come from `positions` with
the same rule as `locked --at-height` (a position counts from its `created_height`, the
block that made it, until its `spent_height`), so every point equals what
`locked --at-height` says at that point's height.

Intervals sample that function at the last height of each bucket:
- `block`: every height at which a selected protocol's amount changed, plus both ends;
- `day` / `week`: by block time (UTC; weeks start on Monday), from the `blocks` table;
- `cycle`: fixed-length cycles (Stacks PoX reward cycles), either given as
  `cycle_length`/`cycle_start` or inferred from `reward_cycle`/`cycle_offset` stored in
  `block_commit` events (the core never reads adapter params).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from adapters import registry
from indexer.db import queries
from indexer.db import tables as t
from indexer.errors import OperatorError
from indexer.supply import HALVING_INTERVAL, issued_supply, share_of_supply

INTERVALS = ("block", "day", "week", "cycle")
P = t.positions.c


@dataclass(frozen=True)
class Cycles:
    """Fixed-length cycles: cycle `anchor_cycle` starts at height `anchor_start`."""

    length: int
    anchor_start: int
    anchor_cycle: int

    def of(self, height: int) -> int:
        return self.anchor_cycle + (height - self.anchor_start) // self.length


def protocols_for(engine: Engine, protocol: str | None) -> list[str]:
    """The protocols a history covers: all indexed ones (registry order) or the one named."""
    indexed = queries.cursor_heights(engine)
    ordered = [n for n in registry.names() if n in indexed] + sorted(
        set(indexed) - set(registry.names()))
    if protocol in (None, "all"):
        if not ordered:
            raise OperatorError("nothing has been indexed yet", "run `lockedbtc backfill` first")
        return ordered
    assert protocol is not None
    if protocol not in indexed:
        known = ", ".join(ordered) or "none indexed yet"
        raise OperatorError(f"protocol {protocol!r} has not been indexed",
                            f"indexed protocols: {known}")
    return [protocol]


def locked_steps(engine: Engine, protocols: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
    """Per protocol, (height, change in locked sats) sorted by height, one row per height."""
    # NOTE: an output spent in the block that made it (or found when spent, its creation
    # unknown) never counts under `locked --at-height`; leaving it out keeps the two equal.
    live = or_(P.spent_height.is_(None), P.spent_height > P.created_height)
    base = and_(P.protocol.in_(list(protocols)), P.locked.is_(True), live)
    plus = (select(P.protocol, P.created_height, func.sum(P.value_sat))
            .where(base).group_by(P.protocol, P.created_height))
    minus = (select(P.protocol, P.spent_height, func.sum(P.value_sat))
             .where(base, P.spent_height.is_not(None)).group_by(P.protocol, P.spent_height))
    steps: dict[str, dict[int, int]] = {p: {} for p in protocols}
    with engine.connect() as conn:
        for proto, height, sat in conn.execute(plus):
            d = steps[proto]
            d[int(height)] = d.get(int(height), 0) + int(sat)
        for proto, height, sat in conn.execute(minus):
            d = steps[proto]
            d[int(height)] = d.get(int(height), 0) - int(sat)
    return {p: sorted((h, s) for h, s in d.items() if s) for p, d in steps.items()}


def block_times(engine: Engine, low: int, high: int) -> list[tuple[int, int]]:
    """(height, block time) for the stored blocks in [low, high], by height."""
    b = t.blocks.c
    with engine.connect() as conn:
        return [(int(h), int(tm)) for h, tm in conn.execute(
            select(b.height, b.time).where(b.height.between(low, high)).order_by(b.height))]


def infer_cycles(engine: Engine) -> Cycles | None:
    """Cycle arithmetic from `block_commit` events carrying `reward_cycle` and `cycle_offset`:
    the earliest and latest such events anchor it; None when fewer than two cycles seen."""
    e = t.events.c
    # NOTE: naming the protocols lets the (protocol, kind, height) index serve this query
    protocols = list(queries.cursor_heights(engine))
    q = select(e.height, e.data).where(e.protocol.in_(protocols), e.kind == "block_commit")
    with engine.connect() as conn:
        first = _cycle_anchor(conn.execute(q.order_by(e.height).limit(100)))
        last = _cycle_anchor(conn.execute(q.order_by(e.height.desc()).limit(100)))
    if first is None or last is None or first[1] == last[1]:
        return None
    (s1, c1), (s2, c2) = first, last
    length, rest = divmod(s2 - s1, c2 - c1)
    if rest or length <= 0:
        return None  # inconsistent data: better no cycles than wrong ones
    return Cycles(length, s1, c1)


def _cycle_anchor(rows: Iterable[Any]) -> tuple[int, int] | None:
    for height, data in rows:
        d = json.loads(data)
        cycle, offset = d.get("reward_cycle"), d.get("cycle_offset")
        if isinstance(cycle, int) and isinstance(offset, int):
            return int(height) - offset, cycle
    return None


def resolve_cycles(engine: Engine, length: int | None, start: int | None) -> Cycles:
    """Explicit `--cycle-length` (with `--cycle-start`, default 0) or inferred from events."""
    if length is not None:
        if length <= 0:
            raise OperatorError(f"cycle length {length} is not positive",
                                "pass --cycle-length N with N >= 1")
        if start is None:
            inferred = infer_cycles(engine)
            if inferred is not None and inferred.length == length:
                return inferred
        return Cycles(length, start or 0, 0)
    inferred = infer_cycles(engine)
    if inferred is None:
        raise OperatorError("cannot tell the cycle length: no block_commit events in two "
                            "different reward cycles",
                            "pass --cycle-length N (and --cycle-start H, the first height "
                            "of cycle 0)")
    return inferred


def _bucket_ends(engine: Engine, interval: str, low: int, high: int,
                 change_heights: Iterable[int], cycles: Cycles | None
                 ) -> list[tuple[str, int, int, int | None]]:
    """(label, first height, last height, last block time) of each bucket, oldest first."""
    times = dict(block_times(engine, low, high))
    if interval == "block":
        hs = sorted({low, high, *(h for h in change_heights if low <= h <= high)})
        return [(str(h), h, h, times.get(h)) for h in hs]
    buckets: dict[str, list[int]] = {}
    for h in range(low, high + 1):
        if interval == "cycle":
            assert cycles is not None
            c = cycles.of(h)
            if c < 0:
                continue
            key = f"cycle {c}"
        else:
            tm = times.get(h)
            if tm is None:
                continue  # a height with no stored block has no time to bucket by
            day = dt.datetime.fromtimestamp(tm, dt.UTC).date()
            if interval == "week":
                day -= dt.timedelta(days=day.weekday())
            key = day.isoformat()
        span = buckets.setdefault(key, [h, h])
        span[1] = h
    out = [(k, a, b, times.get(b)) for k, (a, b) in buckets.items()]
    return sorted(out, key=lambda x: x[2])


def history(engine: Engine, chain: str, *, protocol: str | None = None,
            interval: str = "day", low: int | None = None, high: int | None = None,
            cycle_length: int | None = None, cycle_start: int | None = None
            ) -> dict[str, Any]:
    """The locked history object (`history --json`, `/api/history`)."""
    if interval not in INTERVALS:
        raise OperatorError(f"unknown interval {interval!r}", f"use one of {', '.join(INTERVALS)}")
    protocols = protocols_for(engine, protocol)
    indexed = queries.indexed_height(engine, protocols)
    assert indexed is not None  # protocols_for checked there are cursors
    steps = locked_steps(engine, protocols)
    changes = sorted({h for s in steps.values() for h, _ in s})
    high = indexed if high is None else min(high, indexed)
    if low is None:
        low = changes[0] if changes else high
    if low > high:
        raise OperatorError(f"empty range: from {low} is above to {high}",
                            f"pass --from at or below {high} (the indexed height)")
    cycles = resolve_cycles(engine, cycle_length, cycle_start) if interval == "cycle" else None
    ends = _bucket_ends(engine, interval, low, high, changes, cycles)
    points = []
    cursor = {p: (0, 0) for p in protocols}  # per protocol: (index into steps, running sum)
    for label, first, last, tm in ends:
        amounts: dict[str, int] = {}
        for p in protocols:
            i, acc = cursor[p]
            s = steps[p]
            while i < len(s) and s[i][0] <= last:
                acc += s[i][1]
                i += 1
            cursor[p] = (i, acc)
            amounts[p] = acc
        total = sum(amounts.values())
        supply = issued_supply(last, chain) if chain in HALVING_INTERVAL else None
        points.append({"label": label, "first_height": first, "height": last, "time": tm,
                       "locked_sat": amounts, "total_sat": total, "supply_sat": supply,
                       "share_of_supply": None if supply is None
                       else share_of_supply(total, supply)})
    return {"chain": chain, "interval": interval, "protocols": protocols,
            "from_height": low, "to_height": high,
            "cycle_length": cycles.length if cycles else None, "points": points}


def history_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows for CSV: one per point, one `<protocol>_sat` column per protocol."""
    rows = []
    for pt in report["points"]:
        row: dict[str, Any] = {"label": pt["label"], "first_height": pt["first_height"],
                               "height": pt["height"], "time": pt["time"]}
        for p in report["protocols"]:
            row[f"{p}_sat"] = pt["locked_sat"][p]
        row.update(total_sat=pt["total_sat"], supply_sat=pt["supply_sat"],
                   share_of_supply=pt["share_of_supply"])
        rows.append(row)
    return rows
