"""The JSON API behind `lockedbtc serve`: query strings in, the CLI's JSON shapes out.

- `/api/locked?height=&protocol=`: the `locked --json` object;
- `/api/history?protocol=&interval=&from=&to=&cycle_length=&cycle_start=`: `history --json`;
- `/api/positions?protocol=NAME&height=&all=1`: `positions --json`;
- `/api/events?protocol=&kind=(repeatable)&from=&to=&limit=&latest=1`: `events --json`
  rows with `protocol` added (all protocols when none is given);
- `/api/status`: `status --json` without the node (`tip_height` null);
- `/api/insights/babylon|powpeg|stacks?height=`: `insights --json`.

Every value reaches SQL as a bound parameter; bad input is a 400 with `{"error", "hint"}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from adapters import registry
from indexer import history, insights
from indexer.app import locked_report, status_report, stored_chain
from indexer.config import Settings
from indexer.db import queries
from indexer.db import tables as t
from indexer.db.store import Store
from indexer.errors import OperatorError, redact

Query = Mapping[str, Sequence[str]]
_NAME = re.compile(r"^[a-z0-9_]{1,40}$")
_MISSING = re.compile(r"not been indexed|nothing has been indexed|no adapter has indexed|"
                      r"unknown protocol")
MAX_EVENTS = 10_000
DEFAULT_EVENTS = 1_000


class ApiError(Exception):
    """A request the API refuses: HTTP status, message and a hint for the caller."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint

    def body(self) -> dict[str, Any]:
        return {"error": redact(self.message), "hint": redact(self.hint)}


def _one(q: Query, name: str) -> str | None:
    vals = q.get(name)
    return vals[-1] if vals else None


def _int(q: Query, name: str, *, minimum: int = 0) -> int | None:
    raw = _one(q, name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ApiError(400, f"{name} must be >= {minimum}")
    return value


def _name(q: Query, name: str, *, required: bool = False) -> str | None:
    raw = _one(q, name)
    if raw is None or raw == "":
        if required:
            raise ApiError(400, f"missing {name}", f"add ?{name}=NAME")
        return None
    if not _NAME.match(raw):
        raise ApiError(400, f"{name} {raw!r} is not a name (a-z, 0-9, _)")
    return raw


def _flag(q: Query, name: str) -> bool:
    return (_one(q, name) or "").lower() in ("1", "true", "yes")


def events_page(store: Store, protocol: str | None, kinds: Sequence[str], low: int | None,
                high: int | None, limit: int, latest: bool) -> list[dict[str, Any]]:
    """Events in chain order (all protocols when `protocol` is None), at most `limit`: the
    first ones from `low`, or with `latest` the last ones up to `high`."""
    e = t.events.c
    q = select(t.events)
    if protocol is not None:
        q = q.where(e.protocol == protocol)
    if kinds:
        q = q.where(e.kind.in_(list(kinds)))
    if low is not None:
        q = q.where(e.height >= low)
    if high is not None:
        q = q.where(e.height <= high)
    order = (e.height, e.tx_index, e.protocol, e.seq)
    q = q.order_by(*(c.desc() for c in order)) if latest else q.order_by(*order)
    with store.engine.connect() as conn:
        rows = list(conn.execute(q.limit(limit)))
    if latest:
        rows.reverse()
    out = []
    for r in rows:
        data: dict[str, Any] = json.loads(r.data)
        out.append({**data, "protocol": r.protocol, "height": int(r.height),
                    "tx_index": int(r.tx_index), "txid": r.txid, "kind": r.kind,
                    "amount_sat": None if r.amount_sat is None else int(r.amount_sat)})
    return out


@dataclass
class Api:
    """Routes `/api/...` paths to the read-side queries; read-only by construction."""

    store: Store
    settings: Settings

    def __post_init__(self) -> None:
        self.routes: dict[str, Callable[[Query], Any]] = {
            "/api/locked": self.locked, "/api/history": self.history,
            "/api/positions": self.positions, "/api/events": self.events,
            "/api/status": self.status,
            **{f"/api/insights/{p}": self._insight(p) for p in insights.INSIGHTS},
        }

    def handle(self, path: str, q: Query) -> Any:
        route = self.routes.get(path.rstrip("/") or "/")
        if route is None:
            raise ApiError(404, f"no such endpoint {path}", "see /api/status, /api/locked, "
                           "/api/history, /api/positions, /api/events, /api/insights/NAME")
        try:
            return route(q)
        except OperatorError as exc:
            # NOTE: "what you asked for is not there" (404) vs "what you asked is wrong" (400)
            missing = _MISSING.search(exc.summary) is not None
            raise ApiError(404 if missing else 400, exc.summary, exc.hint) from None

    def chain(self) -> str:
        return stored_chain(self.store)

    def locked(self, q: Query) -> dict[str, Any]:
        return locked_report(self.store, self.settings, _int(q, "height"), _name(q, "protocol"))

    def history(self, q: Query) -> dict[str, Any]:
        interval = _one(q, "interval") or "day"
        if interval not in history.INTERVALS:
            raise ApiError(400, f"interval {interval!r} is not one of "
                           f"{', '.join(history.INTERVALS)}")
        return history.history(
            self.store.engine, self.chain(), protocol=_name(q, "protocol"), interval=interval,
            low=_int(q, "from"), high=_int(q, "to"),
            cycle_length=_int(q, "cycle_length", minimum=1),
            cycle_start=_int(q, "cycle_start"))

    def positions(self, q: Query) -> list[dict[str, Any]]:
        protocol = _name(q, "protocol", required=True)
        assert protocol is not None
        height = _int(q, "height")
        if height is None:
            height = queries.indexed_height(self.store.engine)
            if height is None:
                raise ApiError(404, "nothing has been indexed yet", "run `lockedbtc backfill`")
        return queries.positions(self.store.engine, protocol, height,
                                 include_spent=_flag(q, "all"))

    def events(self, q: Query) -> list[dict[str, Any]]:
        kinds = [k for k in q.get("kind", []) if k]
        for k in kinds:
            if not _NAME.match(k):
                raise ApiError(400, f"kind {k!r} is not a name (a-z, 0-9, _)")
        limit = _int(q, "limit", minimum=1) or DEFAULT_EVENTS
        return events_page(self.store, _name(q, "protocol"), kinds, _int(q, "from"),
                           _int(q, "to"), min(limit, MAX_EVENTS), _flag(q, "latest"))

    def status(self, _q: Query) -> dict[str, Any]:
        report = status_report(self.store, None)
        for name in registry.names():
            report["adapters"].setdefault(name, {"height": None})
        return report

    def _insight(self, protocol: str) -> Callable[[Query], dict[str, Any]]:
        def run(q: Query) -> dict[str, Any]:
            return insights.INSIGHTS[protocol](self.store.engine, self.chain(),
                                               _int(q, "height"))
        return run
