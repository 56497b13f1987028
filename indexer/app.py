"""Wiring shared by the commands: open the store, reach the node, build the adapters,
and assemble the `locked` and `status` reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from adapters import registry
from adapters.base import Adapter
from indexer.config import Settings, build_adapters, load_params
from indexer.db import queries
from indexer.db.engine import make_engine
from indexer.db.migrate import migrate
from indexer.db.store import Store
from indexer.errors import OperatorError
from indexer.supply import HALVING_INTERVAL, issued_supply, share_of_supply

if TYPE_CHECKING:
    from indexer.chain.source import NodeSource


def open_store(settings: Settings) -> Store:
    engine = make_engine(settings.db)
    migrate(engine)
    return Store(engine)


def open_node(settings: Settings) -> NodeSource:
    from indexer.chain.source import connect  # deferred: commands reading the DB skip it

    return connect(settings.rpc, cookie_file=settings.cookie_file,
                   retry_seconds=settings.rpc_retry_seconds)


def adapters_for(settings: Settings, chain: str,
                 names: Sequence[str] | None = None) -> list[Adapter]:
    return build_adapters(chain, load_params(settings.params), names,
                          source=f"params file {settings.params}" if settings.params
                          else "built-in params")


def stored_chain(store: Store) -> str:
    chain = store.get_meta("chain")
    if chain is None:
        raise OperatorError("nothing has been indexed into this database yet",
                            "run `lockedbtc backfill` or `lockedbtc run` first, or pass --db")
    return chain


def locked_report(store: Store, settings: Settings, at_height: int | None,
                  protocol: str | None) -> dict[str, Any]:
    chain = stored_chain(store)
    heights = queries.cursor_heights(store.engine)
    # NOTE: every known adapter gets a line, an idle one (no params for this chain, or not
    # started yet) with zeros and `indexed_height: null`, so a missing protocol is visible.
    names = [protocol] if protocol else [n for n in registry.names()] + sorted(
        set(heights) - set(registry.names()))
    if protocol and protocol not in heights and protocol not in registry.names():
        raise OperatorError(f"unknown protocol {protocol!r}",
                            f"known: {', '.join(registry.names())}")
    indexed_names = [n for n in names if n in heights]
    if not indexed_names:
        raise OperatorError("no adapter has indexed anything yet", "run `lockedbtc backfill`")
    indexed = min(heights[n] for n in indexed_names)
    height = indexed if at_height is None else at_height
    if height > indexed:
        raise OperatorError(f"height {height} is above what is indexed ({indexed})",
                            "use --at-height at or below it, or index further")
    known = [n for n in names if n in registry.names()]
    adapters = {a.name: a for a in adapters_for(settings, chain, known)}
    protocols = []
    with store.engine.connect() as conn:
        for name in names:
            line = queries.locked_summary(conn, name, height)
            detail = (adapters[name].locked_detail_at(
                queries.locked_positions(conn, name, height), height=height,
                median_time=queries.median_time_past(conn, height)) if name in adapters
                else {})
            protocols.append({**detail, **line, "indexed_height": heights.get(name)})
    # Issued supply from the subsidy schedule, so each line also says what share of all
    # bitcoin ever issued (up to this height) the protocol holds.
    supply = issued_supply(height, chain) if chain in HALVING_INTERVAL else None
    for line in protocols:
        line["share_of_supply"] = (None if supply is None
                                   else share_of_supply(line["locked_sat"], supply))
    total = sum(p["locked_sat"] for p in protocols)
    return {"chain": chain, "height": height, "total_sat": total, "protocols": protocols,
            "supply_sat": supply,
            "share_of_supply": None if supply is None else share_of_supply(total, supply)}


def status_report(store: Store, node: NodeSource | None) -> dict[str, Any]:
    heights = queries.cursor_heights(store.engine)
    chain = store.get_meta("chain") or (node.chain if node else None)
    tip = node.tip()[0] if node else None
    return {"chain": chain, "tip_height": tip,
            "indexed_height": min(heights.values()) if heights else None,
            "adapters": {n: {"height": h} for n, h in sorted(heights.items())}}
