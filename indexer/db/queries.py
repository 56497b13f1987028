"""Read-side queries behind `locked`, `positions`, `events`, `status` (and the views).

All of them answer "as of height H": a position counts at H when the block that created it
is at or below H and it is unspent at H (an output discovered later, whose creation height
the node told, counts from its creation). Rows are returned as plain dicts in the contract's
JSON shape, protocol fields from `data` merged in (core keys win on a clash).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select

from adapters.base import Position
from indexer.db import tables as t

P = t.positions.c


def _unspent_at(height: int) -> Any:
    # NOTE: by creation, not by the block that recorded the row: an output discovered when
    # spent whose creation height the node told (txindex) counts from then until its spend
    # (history filled in after the fact). Every other row has created_height == height.
    return and_(P.created_height <= height,
                or_(P.spent_height.is_(None), P.spent_height > height))


def indexed_height(engine: Engine, protocols: Sequence[str] | None = None) -> int | None:
    """The height every given adapter (all when None) has indexed, or None."""
    with engine.connect() as conn:
        q = select(func.min(t.cursors.c.height))
        if protocols is not None:
            q = q.where(t.cursors.c.adapter.in_(list(protocols)))
        h = conn.execute(q).scalar()
    return None if h is None else int(h)


def cursor_heights(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {r.adapter: int(r.height)
                for r in conn.execute(select(t.cursors.c.adapter, t.cursors.c.height))}


def median_time_past(conn: Connection, height: int) -> int | None:
    """The median of the last 11 block times up to `height` (BIP113), from `blocks`."""
    b = t.blocks.c
    times = sorted(int(r[0]) for r in conn.execute(
        select(b.time).where(b.height.between(height - 10, height))))
    return times[len(times) // 2] if times else None


def locked_positions(conn: Connection, protocol: str, height: int) -> list[Position]:
    rows = conn.execute(select(t.positions).where(P.protocol == protocol, P.locked.is_(True),
                                                  _unspent_at(height)))
    return [Position(r.txid, r.vout, r.value_sat, r.created_height, r.status, bool(r.locked),
                     json.loads(r.data)) for r in rows]


def locked_summary(conn: Connection, protocol: str, height: int) -> dict[str, Any]:
    """`locked_sat`, `positions` and a per-status breakdown for one protocol at `height`."""
    rows = conn.execute(
        select(P.status, func.count(), func.coalesce(func.sum(P.value_sat), 0))
        .where(P.protocol == protocol, P.locked.is_(True), _unspent_at(height))
        .group_by(P.status).order_by(P.status))
    by_status: dict[str, int] = {}
    count = total = 0
    for status, n, sat in rows:
        by_status[status] = int(sat)
        count += int(n)
        total += int(sat)
    return {"protocol": protocol, "locked_sat": total, "positions": count,
            "by_status": by_status}


def _row(r: Any, core: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(r.data)
    return {**data, **core}


def positions(engine: Engine, protocol: str, height: int, *,
              include_spent: bool = False) -> list[dict[str, Any]]:
    q = select(t.positions).where(P.protocol == protocol, P.created_height <= height)
    if not include_spent:
        q = q.where(_unspent_at(height))
    q = q.order_by(P.created_height, P.tx_index, P.txid, P.vout)
    out = []
    with engine.connect() as conn:
        for r in conn.execute(q):
            spent = r.spent_height if r.spent_height is not None and r.spent_height <= height \
                else None
            core = {"txid": r.txid, "vout": r.vout, "value_sat": int(r.value_sat),
                    "height": int(r.created_height), "status": r.status,
                    "locked": bool(r.locked), "spent_height": spent,
                    "spent_txid": r.spent_txid if spent is not None else None}
            if r.height != r.created_height:
                core["discovered_height"] = int(r.height)
            out.append(_row(r, core))
    return out


def events(engine: Engine, protocol: str, low: int | None = None,
           high: int | None = None, kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
    e = t.events.c
    q = select(t.events).where(e.protocol == protocol)
    if low is not None:
        q = q.where(e.height >= low)
    if high is not None:
        q = q.where(e.height <= high)
    if kinds:
        q = q.where(e.kind.in_(list(kinds)))
    q = q.order_by(e.height, e.tx_index, e.seq)
    with engine.connect() as conn:
        return [_row(r, {"height": int(r.height), "tx_index": int(r.tx_index), "txid": r.txid,
                         "kind": r.kind,
                         "amount_sat": None if r.amount_sat is None else int(r.amount_sat)})
                for r in conn.execute(q)]


def rejects(engine: Engine, protocol: str, low: int | None = None,
            high: int | None = None) -> list[dict[str, Any]]:
    r_ = t.rejects.c
    q = select(t.rejects).where(r_.protocol == protocol)
    if low is not None:
        q = q.where(r_.height >= low)
    if high is not None:
        q = q.where(r_.height <= high)
    q = q.order_by(r_.height, r_.tx_index, r_.seq)
    with engine.connect() as conn:
        return [_row(r, {"height": int(r.height), "tx_index": int(r.tx_index), "txid": r.txid,
                         "reason": r.reason}) for r in conn.execute(q)]
