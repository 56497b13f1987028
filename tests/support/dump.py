"""Every indexed table as sorted rows, to compare two databases row for row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from indexer.db import tables as t


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with engine.connect() as conn:
        for table in (t.blocks, t.cursors, t.positions, t.events, t.rejects, t.adapter_state):
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out
