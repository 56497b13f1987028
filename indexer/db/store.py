"""Writes and state reads of the indexer: batches of heights, rollback, cursors.

A batch (blocks, every record, every spend, the cursors) commits in one transaction, so
the tables never hold a height whose records are half written. Rollback above a height is
one transaction too: delete what those heights created, un-spend what they spent, move
the cursors back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from adapters.base import Event, NewPosition, Position, Record, Rejected, StateUpdate
from indexer.chain.block import OutPoint, txid_from_hex
from indexer.db import tables as t
from indexer.errors import ChainMismatch, InvariantError

_logger = logging.getLogger(__name__)


def dumps(data: Any) -> str:
    """Canonical JSON (sorted keys) so identical data gives identical rows."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Spend:
    """An adapter's position spent by `spent_txid` in the block being written."""

    txid: str
    vout: int
    spent_txid: str


@dataclass(slots=True)
class AdapterBlock:
    """One adapter's output for one block (empty when the block had nothing for it)."""

    records: list[Record] = field(default_factory=list)
    spends: list[Spend] = field(default_factory=list)


@dataclass(slots=True)
class BlockWork:
    """Everything one height contributes to a batch."""

    height: int
    hash: str
    prev_hash: str
    time: int
    adapters: dict[str, AdapterBlock]


class Store:
    """The indexer's tables behind one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ meta and cursors
    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()

    def check_chain(self, chain: str) -> None:
        """Record the node's chain on first use; refuse a database built for another."""
        with self.engine.begin() as conn:
            have = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "chain")).scalar()
            if have is None:
                conn.execute(insert(t.meta).values(key="chain", value=chain))
            elif have != chain:
                raise ChainMismatch(
                    f"the database holds the {have!r} chain but the node is on {chain!r}",
                    "point --rpc at a node of that chain, or use another --db")

    def cursors(self) -> dict[str, tuple[int, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.cursors.c.adapter, t.cursors.c.height,
                                       t.cursors.c.hash))
            return {r.adapter: (r.height, r.hash) for r in rows}

    def block_hash(self, height: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.blocks.c.hash).where(t.blocks.c.height == height)
                                ).scalar()

    def block_hashes(self, low: int, high: int) -> dict[int, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.blocks.c.height, t.blocks.c.hash)
                                .where(t.blocks.c.height.between(low, high)))
            return {r.height: r.hash for r in rows}

    def lowest_block(self) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(t.blocks.c.height))).scalar()

    def highest_block(self) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(t.blocks.c.height))).scalar()

    # ------------------------------------------------------------------ adapter state
    def tracked_outpoints(self, protocol: str) -> set[OutPoint]:
        """Every unspent position of `protocol`, as hot-path outpoint keys."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.positions.c.txid, t.positions.c.vout).where(
                t.positions.c.protocol == protocol, t.positions.c.spent_height.is_(None)))
            return {(txid_from_hex(r.txid), r.vout) for r in rows}

    def load_position(self, protocol: str, txid: str, vout: int) -> Position | None:
        p = t.positions.c
        with self.engine.connect() as conn:
            r = conn.execute(select(t.positions).where(
                p.protocol == protocol, p.txid == txid, p.vout == vout,
                p.spent_height.is_(None))).first()
        if r is None:
            return None
        return Position(r.txid, r.vout, r.value_sat, r.created_height, r.status,
                        bool(r.locked), json.loads(r.data))

    def load_state(self, protocol: str) -> dict[str, Any]:
        s = t.adapter_state.c
        latest = (select(s.key, func.max(s.height).label("h"))
                  .where(s.protocol == protocol).group_by(s.key).subquery())
        q = (select(s.key, s.value).join(latest, and_(s.key == latest.c.key,
                                                       s.height == latest.c.h))
             .where(s.protocol == protocol))
        with self.engine.connect() as conn:
            return {r.key: json.loads(r.value) for r in conn.execute(q)}

    # ------------------------------------------------------------------ writing
    def write(self, batch: Sequence[BlockWork]) -> None:
        """Commit a batch of consecutive heights with their records and cursors.

        All rows of the batch go in with one multi-row insert per table (COPY on
        PostgreSQL), then the spends; a batch of one height (the tip) is the same code.
        """
        if not batch:
            return
        try:
            with self.engine.begin() as conn:
                self._write_bulk(conn, batch)
                self._set_cursors(conn, batch)
        except (IntegrityError, _PgIntegrityError):
            if len(batch) == 1 and self.engine.dialect.name != "postgresql":
                raise
            # NOTE: a duplicate row is an adapter bug; redo the batch height by height,
            # which names the adapter and height (and raises InvariantError).
            with self.engine.begin() as conn:
                for work in batch:
                    self._write_block(conn, work)
                self._set_cursors(conn, batch)

    def _set_cursors(self, conn: Connection, batch: Sequence[BlockWork]) -> None:
        last: dict[str, BlockWork] = {}
        for work in batch:
            for name in work.adapters:
                last[name] = work
        for name, work in last.items():
            self._set_cursor(conn, name, work.height, work.hash)

    def _write_bulk(self, conn: Connection, batch: Sequence[BlockWork]) -> None:
        lo, hi = batch[0].height, batch[-1].height
        have = {r.height: r.hash for r in conn.execute(
            select(t.blocks.c.height, t.blocks.c.hash).where(t.blocks.c.height.between(
                min(lo, hi), max(lo, hi))))}
        rows: dict[str, list[dict[str, Any]]] = {
            tb.name: [] for tb in (t.blocks, t.positions, t.events, t.rejects,
                                   t.adapter_state)}
        for w in batch:
            stored = have.get(w.height)
            if stored is None:
                rows["blocks"].append({"height": w.height, "hash": w.hash,
                                       "prev_hash": w.prev_hash, "time": w.time})
            elif stored != w.hash:
                raise InvariantError(f"height {w.height} is stored as {stored} but the batch "
                                     f"has {w.hash}: a reorg was not rolled back first")
            for name, ab in w.adapters.items():
                for tname, got in _record_rows(name, w.height, ab).items():
                    rows[tname].extend(got)
        for table in (t.blocks, t.positions, t.events, t.rejects, t.adapter_state):
            _insert_many(conn, table, rows[table.name])
        for w in batch:
            for name, ab in w.adapters.items():
                self._write_spends(conn, name, w.height, ab)

    def _write_block(self, conn: Connection, w: BlockWork) -> None:
        have = conn.execute(select(t.blocks.c.hash).where(t.blocks.c.height == w.height)
                            ).scalar()
        if have is None:
            conn.execute(insert(t.blocks).values(height=w.height, hash=w.hash,
                                                 prev_hash=w.prev_hash, time=w.time))
        elif have != w.hash:
            raise InvariantError(f"height {w.height} is stored as {have} but the batch has "
                                 f"{w.hash}: a reorg was not rolled back first")
        for name, ab in w.adapters.items():
            self._write_records(conn, name, w.height, ab)

    def _write_records(self, conn: Connection, name: str, height: int,
                       ab: AdapterBlock) -> None:
        try:
            for table, rows in _record_rows(name, height, ab).items():
                if rows:
                    conn.execute(insert(_TABLES[table]), rows)
        except IntegrityError as exc:
            raise InvariantError(f"adapter {name} at height {height} wrote a duplicate row: "
                                 f"{exc.orig}") from exc
        self._write_spends(conn, name, height, ab)

    @staticmethod
    def _write_spends(conn: Connection, name: str, height: int, ab: AdapterBlock) -> None:
        p = t.positions.c
        for sp in ab.spends:
            res = conn.execute(update(t.positions).where(
                p.protocol == name, p.txid == sp.txid, p.vout == sp.vout,
                p.spent_height.is_(None)).values(spent_height=height, spent_txid=sp.spent_txid))
            if res.rowcount != 1:
                raise InvariantError(f"{name}: spend of {sp.txid}:{sp.vout} at {height} "
                                     "matches no unspent position")

    def _set_cursor(self, conn: Connection, name: str, height: int, hash_: str) -> None:
        res = conn.execute(update(t.cursors).where(t.cursors.c.adapter == name)
                           .values(height=height, hash=hash_))
        if res.rowcount == 0:
            conn.execute(insert(t.cursors).values(adapter=name, height=height, hash=hash_))

    # ------------------------------------------------------------------ rollback
    def rollback_above(self, height: int) -> None:
        """Undo every height above `height`, in one transaction."""
        with self.engine.begin() as conn:
            for table in t.DERIVED:
                conn.execute(delete(table).where(table.c.height > height))
            p = t.positions.c
            conn.execute(update(t.positions).where(p.spent_height > height)
                         .values(spent_height=None, spent_txid=None))
            keep = conn.execute(select(t.blocks.c.hash).where(t.blocks.c.height == height)
                                ).scalar()
            c = t.cursors.c
            if keep is None:
                conn.execute(delete(t.cursors).where(c.height > height))
            else:
                conn.execute(update(t.cursors).where(c.height > height)
                             .values(height=height, hash=keep))
        _logger.debug("rolled back above height %d", height)


_TABLES = {tb.name: tb for tb in (t.blocks, t.positions, t.events, t.rejects, t.adapter_state)}

#: Below this many rows a plain multi-row INSERT is as quick as setting up a COPY.
COPY_MIN_ROWS = 16

try:
    from psycopg import IntegrityError as _PgIntegrityError
except ImportError:  # pragma: no cover - psycopg is a dependency, but SQLite needs none
    class _PgIntegrityError(Exception):  # type: ignore[no-redef]
        pass


def _record_rows(name: str, height: int, ab: AdapterBlock) -> dict[str, list[dict[str, Any]]]:
    """One adapter's records at one height as rows, by table name."""
    positions: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    seq: dict[tuple[str, int], int] = {}
    for rec in ab.records:
        if isinstance(rec, NewPosition):
            positions.append({
                "protocol": name, "txid": rec.txid, "vout": rec.vout,
                "value_sat": rec.value_sat, "height": height,
                "created_height": height if rec.created_height is None
                else rec.created_height,
                "tx_index": rec.tx_index, "status": rec.status, "locked": rec.locked,
                "data": dumps(rec.data),
                "spent_height": None if rec.spent_by is None else height,
                "spent_txid": rec.spent_by})
        elif isinstance(rec, Event | Rejected):
            key = ("e" if isinstance(rec, Event) else "r", rec.tx_index)
            n = seq[key] = seq.get(key, -1) + 1
            row = {"protocol": name, "height": height, "tx_index": rec.tx_index,
                   "seq": n, "txid": rec.txid, "data": dumps(rec.data)}
            if isinstance(rec, Event):
                events.append({**row, "kind": rec.kind, "amount_sat": rec.amount_sat})
            else:
                rejects.append({**row, "reason": rec.reason})
        elif isinstance(rec, StateUpdate):
            # NOTE: the last update of a key in a block is the one in force.
            states = [s for s in states if s["key"] != rec.key]
            states.append({"protocol": name, "key": rec.key, "height": height,
                           "value": dumps(rec.value)})
        else:
            raise InvariantError(f"adapter {name} emitted an unknown record {rec!r}")
    return {"positions": positions, "events": events, "rejects": rejects,
            "adapter_state": states}


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` in one statement: COPY on PostgreSQL (psycopg 3), else executemany."""
    if not rows:
        return
    if (len(rows) >= COPY_MIN_ROWS and conn.dialect.name == "postgresql"
            and conn.dialect.driver == "psycopg"):
        cols = [c.name for c in table.columns]
        raw = conn.connection.driver_connection
        assert raw is not None
        quoted = ", ".join(f'"{c}"' for c in cols)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as cp:
            for r in rows:
                cp.write_row(tuple(r.get(c) for c in cols))
        return
    conn.execute(insert(table), rows)
