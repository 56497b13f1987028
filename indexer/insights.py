"""Per-protocol insights for analysts: `lockedbtc insights babylon|powpeg|stacks`.

Built only from the generic tables (positions, events, blocks) and the documented data keys
adapters store there, never from adapter code:
- babylon: `stake` events and locked positions with `staker_pk`, `finality_provider_pk`,
  `staking_time`, `params_version`, `status`;
- powpeg: `pegin` / `pegout` events (amount_sat, `credited_sat`);
- stacks: `block_commit` events with `reward_cycle`, `paid_sat`, `burned_sat`, `sender`,
  `miner_chain`, `valid`.

Every insight is `{"protocol", "chain", "height", "summary": {...}, "tables": {NAME: [rows]}}`
with integer sats; `share` fields are floats (fractions, for display).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from indexer.db import queries
from indexer.db import tables as t
from indexer.errors import OperatorError

_logger = logging.getLogger(__name__)

COIN = 100_000_000
FP_REGISTRY = ("babylon", "data", "bbn1-finality-provider-registry.json")

#: Stake amount bins (lower edges, sats): where analysts draw lines for Babylon caps.
AMOUNT_EDGES = (0, COIN // 100, COIN // 10, COIN, 10 * COIN, 100 * COIN, 1000 * COIN)
#: Staking-time bins (lower edges, blocks; 144 blocks is about a day).
DURATION_EDGES = (0, 144, 1008, 4320, 12960, 25920, 52560)
_DURATION_NAMES = ("< 1 day", "1 day - 1 week", "1 week - 30 days", "30 - 90 days",
                   "90 - 180 days", "180 days - 1 year", ">= 1 year")


# ---------------------------------------------------------------------------- shared


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _btc(sat: int) -> str:
    whole, frac = divmod(sat, COIN)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".")


def histogram(values: Iterable[tuple[int, int]], edges: Sequence[int], unit: str,
              names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Bin (key, amount) pairs by key into [edge_i, edge_i+1); the last bin is open.

    Rows: `bin` (a label), `min_<unit>`, `max_<unit>` (null for the open bin), `count`,
    `amount_sat`."""
    lo_key, hi_key = f"min_{unit}", f"max_{unit}"
    rows: list[dict[str, Any]] = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        name = names[i] if names else (f">= {_btc(lo)} BTC" if hi is None
                                       else f"{_btc(lo)} - {_btc(hi)} BTC")
        rows.append({"bin": name, lo_key: lo, hi_key: hi, "count": 0, "amount_sat": 0})
    for key, amount in values:
        for row in reversed(rows):
            if key >= row[lo_key]:
                row["count"] += 1
                row["amount_sat"] += amount
                break
    return rows


def block_times_for(engine: Engine, heights: Iterable[int]) -> dict[int, int]:
    """Block time of each given height that has a stored block."""
    b = t.blocks.c
    wanted = sorted(set(heights))
    out: dict[int, int] = {}
    with engine.connect() as conn:
        for i in range(0, len(wanted), 500):  # bounded IN lists
            chunk = wanted[i:i + 500]
            out.update((int(h), int(tm)) for h, tm in conn.execute(
                select(b.height, b.time).where(b.height.in_(chunk))))
    return out


def _month(ts: int | None) -> str:
    if ts is None:
        return "unknown"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m")


def _indexed(engine: Engine, protocol: str, at_height: int | None) -> int:
    h = queries.cursor_heights(engine).get(protocol)
    if h is None:
        raise OperatorError(f"{protocol} has not been indexed into this database",
                            f"run `lockedbtc backfill --adapter {protocol}` first, or pass --db")
    if at_height is not None and at_height > h:
        raise OperatorError(f"height {at_height} is above what {protocol} has indexed ({h})",
                            "use --at-height at or below it")
    return h if at_height is None else at_height


# ---------------------------------------------------------------------------- babylon


def default_fp_registry() -> Path | None:
    """The finality-provider registry shipped as package data beside the babylon adapter,
    located without importing any adapter module (only the `adapters` package's path)."""
    spec = importlib.util.find_spec("adapters")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root).joinpath(*FP_REGISTRY)
        if path.is_file():
            return path
    return None


def load_fp_names(path: Path | None) -> dict[str, str]:
    """Finality-provider BTC public key (hex) → moniker; empty when no registry is found.

    Accepts `{pk: {"moniker": ...}}` (the shipped file), `{pk: name}`, or a list of
    `{"btc_pk": ..., "moniker": ...}` objects.
    """
    if path is None or not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OperatorError(f"cannot read the finality-provider registry {path}: {exc}",
                            "pass --fp-registry FILE with a JSON object {pk: {moniker}}"
                            ) from None
    names: dict[str, str] = {}
    items = raw.items() if isinstance(raw, dict) else (
        (d.get("btc_pk") or d.get("btc_pk_hex"), d) for d in raw if isinstance(d, dict))
    for pk, v in items:
        name = v.get("moniker") if isinstance(v, dict) else v
        if isinstance(pk, str) and isinstance(name, str):
            names[pk.lower()] = name
    return names


def babylon(engine: Engine, chain: str, at_height: int | None = None,
            fp_registry: Path | None = None) -> dict[str, Any]:
    """Unique stakers, amount and duration histograms, finality-provider share, cap fill."""
    height = _indexed(engine, "babylon", at_height)
    stakes = queries.events(engine, "babylon", None, height, ["stake"])
    locked = [p for p in queries.positions(engine, "babylon", height) if p["locked"]]
    names = load_fp_names(fp_registry if fp_registry is not None else default_fp_registry())
    locked_total = sum(p["value_sat"] for p in locked)

    fps: dict[str, dict[str, Any]] = {}

    def fp(pk: str | None) -> dict[str, Any]:
        key = pk or "unknown"
        return fps.setdefault(key, {"finality_provider_pk": key, "moniker": names.get(key),
                                    "locked_sat": 0, "positions": 0, "share": 0.0,
                                    "staked_total_sat": 0, "stakes": 0})

    for p in locked:
        row = fp(p.get("finality_provider_pk"))
        row["locked_sat"] += p["value_sat"]
        row["positions"] += 1
    for s in stakes:
        row = fp(s.get("finality_provider_pk"))
        row["staked_total_sat"] += s["amount_sat"] or 0
        row["stakes"] += 1
    for row in fps.values():
        row["share"] = _share(row["locked_sat"], locked_total)
    fp_rows = sorted(fps.values(), key=lambda r: (-r["locked_sat"], -r["staked_total_sat"],
                                                  r["finality_provider_pk"]))

    amounts = [(s["amount_sat"] or 0, s["amount_sat"] or 0) for s in stakes]
    durations = [(int(s["staking_time"]), s["amount_sat"] or 0) for s in stakes
                 if isinstance(s.get("staking_time"), int)]
    top = fp_rows[0]["share"] if fp_rows else 0.0
    return {
        "protocol": "babylon", "chain": chain, "height": height,
        "summary": {
            "stakes": len(stakes),
            "staked_total_sat": sum(a for a, _ in amounts),
            "unique_stakers": len({s.get("staker_pk") for s in stakes} - {None}),
            "unique_stakers_locked": len({p.get("staker_pk") for p in locked} - {None}),
            "locked_sat": locked_total,
            "finality_providers": len([r for r in fp_rows if r["locked_sat"] > 0]),
            "top_finality_provider_share": top,
            "fp_registry_names": len(names),
        },
        "tables": {
            "finality_providers": fp_rows,
            "amounts": histogram(amounts, AMOUNT_EDGES, "sat"),
            "durations": histogram(durations, DURATION_EDGES, "blocks", _DURATION_NAMES),
            "cap_fill": cap_fill(stakes),
        },
    }


def cap_fill(stakes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per params version and height: stake amounts that counted toward the cap (`active`)
    or overflowed it, with the running active total inside the version (the fill curve)."""
    rows: dict[tuple[Any, int], dict[str, Any]] = {}
    for s in stakes:
        key = (s.get("params_version"), s["height"])
        row = rows.setdefault(key, {"params_version": key[0], "height": key[1],
                                    "stakes": 0, "active_sat": 0, "overflow_sat": 0,
                                    "cumulative_active_sat": 0})
        row["stakes"] += 1
        field = "overflow_sat" if s.get("status") == "overflow" else "active_sat"
        row[field] += s["amount_sat"] or 0
    out = sorted(rows.values(), key=lambda r: (r["height"], str(r["params_version"])))
    running: dict[Any, int] = {}
    for row in out:
        running[row["params_version"]] = running.get(row["params_version"], 0) + row["active_sat"]
        row["cumulative_active_sat"] = running[row["params_version"]]
    return out


# ---------------------------------------------------------------------------- powpeg


def powpeg(engine: Engine, chain: str, at_height: int | None = None) -> dict[str, Any]:
    """Peg-in and peg-out flows per calendar month (UTC, by block time)."""
    height = _indexed(engine, "powpeg", at_height)
    evs = queries.events(engine, "powpeg", None, height, ["pegin", "pegout"])
    times = block_times_for(engine, (e["height"] for e in evs))
    months: dict[str, dict[str, Any]] = {}
    for e in evs:
        m = _month(times.get(e["height"]))
        row = months.setdefault(m, {"month": m, "pegins": 0, "pegin_sat": 0,
                                    "pegin_credited_sat": 0, "pegouts": 0, "pegout_sat": 0,
                                    "net_sat": 0})
        amount = e["amount_sat"] or 0
        if e["kind"] == "pegin":
            row["pegins"] += 1
            row["pegin_sat"] += amount
            credited = e.get("credited_sat")
            row["pegin_credited_sat"] += credited if isinstance(credited, int) else 0
            row["net_sat"] += amount
        else:
            row["pegouts"] += 1
            row["pegout_sat"] += amount
            row["net_sat"] -= amount
    rows = sorted(months.values(), key=lambda r: r["month"])
    return {
        "protocol": "powpeg", "chain": chain, "height": height,
        "summary": {
            "pegins": sum(r["pegins"] for r in rows),
            "pegin_sat": sum(r["pegin_sat"] for r in rows),
            "pegouts": sum(r["pegouts"] for r in rows),
            "pegout_sat": sum(r["pegout_sat"] for r in rows),
            "net_sat": sum(r["net_sat"] for r in rows),
            "months": len(rows),
        },
        "tables": {"months": rows},
    }


# ---------------------------------------------------------------------------- stacks


def stacks(engine: Engine, chain: str, at_height: int | None = None) -> dict[str, Any]:
    """BTC committed by Stacks miners per reward cycle and per miner (valid commits)."""
    height = _indexed(engine, "stacks", at_height)
    commits = queries.events(engine, "stacks", None, height, ["block_commit"])
    valid = [c for c in commits if c.get("valid", True)]
    cycles: dict[Any, dict[str, Any]] = {}
    miners: dict[str, dict[str, Any]] = {}
    cycle_miners: dict[Any, set[str]] = {}
    for c in valid:
        paid, burned = _int(c.get("paid_sat")), _int(c.get("burned_sat"))
        committed = c["amount_sat"] if c["amount_sat"] is not None else paid + burned
        # NOTE: `miner_chain` follows one miner across its commits; the sender address
        # can change from commit to commit, so it is only the fallback.
        miner = str(c.get("miner_chain") or c.get("sender") or "unknown")
        cyc = c.get("reward_cycle")
        row = cycles.setdefault(cyc, {"reward_cycle": cyc, "first_height": c["height"],
                                      "last_height": c["height"], "commits": 0, "miners": 0,
                                      "committed_sat": 0, "paid_sat": 0, "burned_sat": 0})
        row["last_height"] = c["height"]
        row["commits"] += 1
        row["committed_sat"] += committed
        row["paid_sat"] += paid
        row["burned_sat"] += burned
        cycle_miners.setdefault(cyc, set()).add(miner)
        m = miners.setdefault(miner, {"miner": miner, "sender": None, "commits": 0,
                                      "committed_sat": 0, "paid_sat": 0, "burned_sat": 0,
                                      "share": 0.0, "first_height": c["height"],
                                      "last_height": c["height"]})
        m["sender"] = c.get("sender")
        m["commits"] += 1
        m["committed_sat"] += committed
        m["paid_sat"] += paid
        m["burned_sat"] += burned
        m["last_height"] = c["height"]
    for cyc, row in cycles.items():
        row["miners"] = len(cycle_miners[cyc])
    total = sum(m["committed_sat"] for m in miners.values())
    for m in miners.values():
        m["share"] = _share(m["committed_sat"], total)
    return {
        "protocol": "stacks", "chain": chain, "height": height,
        "summary": {
            "commits": len(valid), "invalid_commits": len(commits) - len(valid),
            "committed_sat": total,
            "paid_sat": sum(m["paid_sat"] for m in miners.values()),
            "burned_sat": sum(m["burned_sat"] for m in miners.values()),
            "miners": len(miners), "cycles": len(cycles),
        },
        "tables": {
            "cycles": sorted(cycles.values(), key=lambda r: (r["reward_cycle"] is None,
                                                             r["reward_cycle"] or 0)),
            "miners": sorted(miners.values(), key=lambda r: (-r["committed_sat"], r["miner"])),
        },
    }


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


# ---------------------------------------------------------------------------- dispatch

INSIGHTS: dict[str, Callable[..., dict[str, Any]]] = {
    "babylon": babylon, "powpeg": powpeg, "stacks": stacks}
#: The table `--csv` prints when `--table` is not given.
MAIN_TABLE = {"babylon": "finality_providers", "powpeg": "months", "stacks": "cycles"}
