"""Human output: BTC amounts from integer satoshis, aligned tables, CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

COIN = 100_000_000


def btc(sat: int) -> str:
    """Exact decimal BTC from satoshis (no floats)."""
    sign = "-" if sat < 0 else ""
    whole, frac = divmod(abs(sat), COIN)
    return f"{sign}{whole:,}.{frac:08d}"


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str],
          right: Sequence[int] = ()) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                 for i, c in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v
                    for k, v in r.items()})
    return buf.getvalue()


def locked_table(report: Mapping[str, Any]) -> str:
    rows = []
    for p in report["protocols"]:
        detail = ", ".join(f"{k} {btc(v)}" for k, v in p.get("by_status", {}).items())
        rows.append([p["protocol"], btc(p["locked_sat"]), p["positions"], detail])
    rows.append(["total", btc(report["total_sat"]), sum(p["positions"]
                                                        for p in report["protocols"]), ""])
    head = f"Locked BTC on {report['chain']} at height {report['height']}\n\n"
    return head + table(rows, ["protocol", "locked BTC", "positions", "by status (BTC)"],
                        right=(1, 2))
