"""The dashboard page (`/`): rendered on the server as one HTML document with an inline SVG
chart, so it needs no script, no CDN and no network access beyond this server.

The Content-Security-Policy the server sends forbids scripts and remote resources
altogether; every value from the database is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from indexer.plots import color
from indexer.render import btc

W, H = 900, 320
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 16, 40

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:960px;color:#222}
h1{font-size:1.4rem;margin:0 0 .3rem} h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
.meta{color:#555;font-size:.9rem} table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
svg text{font-size:11px;fill:#444} code{font-size:.8rem}
"""


def _pct(share: float | None) -> str:
    return "" if share is None else f"{100 * share:.4f}%"


def chart_svg(hist: dict[str, Any] | None) -> str:
    """Stacked step areas of locked BTC per protocol, one column per point, and the total."""
    points = hist["points"] if hist else []
    protos: list[str] = hist["protocols"] if hist else []
    head = (f'<svg id="locked-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            f'aria-label="Locked BTC per protocol over time">')
    if not points:
        return head + f'<text x="{W // 2}" y="{H // 2}" text-anchor="middle">' \
                      'nothing indexed yet</text></svg>'
    ymax: int = max(max(int(p["total_sat"]) for p in points), 1)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sy(sat: int) -> float:
        return TOP + ph - ph * sat / ymax

    # NOTE: one equal-width column per point (a day, a week, a cycle or a changing block),
    # its value held across the column like `locked --at-height` holds between changes;
    # the last point gets a visible column too.
    xs = [LEFT + pw * k / len(points) for k in range(len(points) + 1)]
    parts = [head, f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fafafa" '
             'stroke="#ccc"/>']
    below = [0] * len(points)
    for i, name in enumerate(protos):
        above = [b + p["locked_sat"][name] for b, p in zip(below, points, strict=True)]
        parts.append(_area(xs, below, above, sy, name, color(name, i)))
        below = above
    total = [p["total_sat"] for p in points]
    line = " ".join(f"{xs[k]:.1f},{sy(v):.1f} {xs[k + 1]:.1f},{sy(v):.1f}"
                    for k, v in enumerate(total))
    parts.append(f'<polyline class="total" points="{line}" fill="none" stroke="#000" '
                 'stroke-width="1.5"><title>total</title></polyline>')
    parts += _axes(points, xs, sy, ymax)
    parts.append("</svg>")
    return "".join(parts)


def _area(xs: Sequence[float], low: Sequence[int], high: Sequence[int], sy: Any, name: str,
          fill: str) -> str:
    top = [f"{xs[k]:.1f},{sy(v):.1f} {xs[k + 1]:.1f},{sy(v):.1f}" for k, v in enumerate(high)]
    bottom = [f"{xs[k + 1]:.1f},{sy(v):.1f} {xs[k]:.1f},{sy(v):.1f}"
              for k, v in reversed(list(enumerate(low)))]
    d = "M" + " L".join(" ".join(top + bottom).split(" ")) + " Z"
    return (f'<path class="area" data-protocol="{escape(name)}" d="{d}" fill="{fill}" '
            f'fill-opacity="0.85"><title>{escape(name)}</title></path>')


def _axes(points: Sequence[dict[str, Any]], xs: Sequence[float], sy: Any,
          ymax: int) -> list[str]:
    out = []
    for k in range(5):
        sat = ymax * k // 4
        y = sy(sat)
        out.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#888"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{sat / 100_000_000:.4g}</text>')
    step = max(1, -(-len(points) // 7))  # at most 7 labels
    for k in range(0, len(points), step):
        p, x = points[k], (xs[k] + xs[k + 1]) / 2
        out.append(f'<line x1="{x:.1f}" y1="{H - BOTTOM}" x2="{x:.1f}" y2="{H - BOTTOM + 4}" '
                   f'stroke="#888"/><text x="{x:.1f}" y="{H - BOTTOM + 16}" '
                   f'text-anchor="middle">{escape(str(p["label"]))}</text>')
    out.append(f'<text x="14" y="{TOP + (H - TOP - BOTTOM) // 2}" '
               f'transform="rotate(-90 14 {TOP + (H - TOP - BOTTOM) // 2})" '
               'text-anchor="middle">locked BTC</text>')
    return out


def _legend(protos: Sequence[str]) -> str:
    items = "".join(f'<span><i style="background:{color(p, i)}"></i>{escape(p)}</span>'
                    for i, p in enumerate(protos))
    return f'<div class="legend">{items}<span><i style="background:#000"></i>total</span></div>'


def locked_table(locked: dict[str, Any] | None) -> str:
    if locked is None:
        return '<p id="locked-empty">nothing indexed yet</p>'
    rows = "".join(
        f'<tr data-protocol="{escape(p["protocol"])}"><td>{escape(p["protocol"])}</td>'
        f'<td class="num">{btc(p["locked_sat"])}</td><td class="num">{p["positions"]}</td>'
        f'<td class="num">{_pct(p.get("share_of_supply"))}</td>'
        f'<td class="num">{"" if p.get("indexed_height") is None else p["indexed_height"]}'
        f"</td></tr>" for p in locked["protocols"])
    rows += (f'<tr class="total"><th>total</th><th class="num">{btc(locked["total_sat"])}</th>'
             f'<th class="num">{sum(p["positions"] for p in locked["protocols"])}</th>'
             f'<th class="num">{_pct(locked.get("share_of_supply"))}</th><th></th></tr>')
    return ('<table id="locked-table"><thead><tr><th>protocol</th><th class="num">locked BTC'
            '</th><th class="num">positions</th><th class="num">of issued supply</th>'
            f'<th class="num">indexed height</th></tr></thead><tbody>{rows}</tbody></table>')


def events_table(events: Sequence[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr><td class="num">{e["height"]}</td><td>{escape(e["protocol"])}</td>'
        f'<td>{escape(e["kind"])}</td><td class="num">'
        f'{"" if e["amount_sat"] is None else btc(e["amount_sat"])}</td>'
        f'<td><code>{escape(e["txid"])}</code></td></tr>' for e in reversed(events))
    return ('<table id="events-table"><thead><tr><th class="num">height</th><th>protocol</th>'
            '<th>kind</th><th class="num">BTC</th><th>txid</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def dashboard(locked: dict[str, Any] | None, hist: dict[str, Any] | None,
              events: Sequence[dict[str, Any]], status: dict[str, Any]) -> str:
    """The whole page. `locked`/`hist` are None on an empty database."""
    chain = escape(str(status.get("chain") or "unknown chain"))
    indexed = status.get("indexed_height")
    summary = (f"{btc(locked['total_sat'])} BTC locked at height {locked['height']} "
               f"({_pct(locked.get('share_of_supply'))} of issued supply)"
               if locked else "nothing indexed yet")
    interval = escape(hist["interval"]) if hist else "day"
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>lockedbtc: {chain}</title><style>{_CSS}</style></head><body>"
        f"<h1>Locked BTC on {chain}</h1><p class=\"meta\" id=\"summary\">{summary}; indexed "
        f"height {'' if indexed is None else indexed}. Read-only; JSON under "
        "<a href=\"/api/status\">/api/</a>.</p>"
        f"<h2>Locked BTC over time (per {interval})</h2>"
        f"{chart_svg(hist)}{_legend(hist['protocols'] if hist else [])}"
        f"<h2>Locked now</h2>{locked_table(locked)}"
        f"<h2>Latest events</h2>{events_table(events)}"
        "</body></html>")
