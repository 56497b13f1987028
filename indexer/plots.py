"""PNG plots of the history and the insights (matplotlib, no display needed).

Figures are built with `matplotlib.figure.Figure` directly instead of `pyplot`: no global
state and no GUI backend, so plotting works headless and from server threads; `savefig`
renders through Agg. Amounts are converted to BTC floats only here, for drawing.
matplotlib is imported only when a plot is drawn, so `serve` (which shares the colours)
runs without it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.errors import OperatorError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COIN = 100_000_000
#: One colour per protocol, stable across plots (tab10 order).
COLORS = {"babylon": "#f7931a", "stacks": "#5546ff", "powpeg": "#2ca02c", "coredao": "#d62728"}
_FALLBACK = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def color(protocol: str, i: int = 0) -> str:
    return COLORS.get(protocol, _FALLBACK[i % len(_FALLBACK)])


def _btc(sats: Sequence[int]) -> list[float]:
    return [s / COIN for s in sats]


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise OperatorError("--plot needs matplotlib, which is not installed",
                            "pip install matplotlib") from None
    return Figure(figsize=(width, height))


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    return out


def plot_history(report: dict[str, Any], path: str | Path) -> Path:
    """Stacked locked BTC per protocol over time, the total, and the share of issued supply
    on a second axis."""
    points = report["points"]
    by_time = report["interval"] in ("day", "week") and all(p["time"] for p in points)
    xs: list[Any] = ([dt.datetime.fromtimestamp(p["time"], dt.UTC) for p in points]
                     if by_time else [p["height"] for p in points])
    fig = _figure(9, 4.8)
    ax = fig.add_subplot()
    protos = report["protocols"]
    if points:
        # NOTE: with "post" steps the last value would get no width; hold it for one more
        # mean spacing so the latest amount is visible.
        xs.append(xs[-1] + (xs[-1] - xs[0]) / (len(xs) - 1) if len(xs) > 1
                  else xs[-1] + (dt.timedelta(days=1) if by_time else 1))
        points = [*points, points[-1]]
        ys = [_btc([p["locked_sat"][name] for p in points]) for name in protos]
        ax.stackplot(xs, ys, labels=protos, step="post", alpha=0.85,
                     colors=[color(n, i) for i, n in enumerate(protos)])
        ax.step(xs, _btc([p["total_sat"] for p in points]), where="post", color="black",
                linewidth=1.2, label="total")
        share = [100.0 * (p["share_of_supply"] or 0.0) for p in points]
        ax2 = ax.twinx()
        ax2.step(xs, share, where="post", color="grey", linestyle="--", linewidth=1,
                 label="% of issued supply")
        ax2.set_ylabel("% of issued supply")
        ax2.set_ylim(bottom=0)
        ax2.legend(loc="upper right", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("locked BTC")
    ax.set_xlabel("date (UTC)" if by_time else "height")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"Locked BTC on {report['chain']} per {report['interval']} "
                 f"(heights {report['from_height']}-{report['to_height']})")
    ax.grid(alpha=0.3)
    if by_time:
        fig.autofmt_xdate()
    fig.tight_layout()
    return _save(fig, path)


def _bars(ax: Axes, labels: Sequence[str], sats: Sequence[int], title: str,
          colour: str) -> None:
    ax.bar(range(len(labels)), _btc(sats), color=colour)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("BTC")
    ax.grid(axis="y", alpha=0.3)


def _top_share(ax: Axes, labels: Sequence[str], shares: Sequence[float], title: str,
               colour: str) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.barh(range(len(labels)), [100.0 * s for s in shares], color=colour)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}%"))
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def _short(key: str | None) -> str:
    return "unknown" if not key else (key if len(key) <= 14 else f"{key[:6]}…{key[-6:]}")


def plot_babylon(ins: dict[str, Any], fig: Figure) -> None:
    tb = ins["tables"]
    ax = fig.subplots(2, 2)
    _bars(ax[0][0], [r["bin"] for r in tb["amounts"]], [r["amount_sat"] for r in tb["amounts"]],
          "BTC staked by stake size", color("babylon"))
    _bars(ax[0][1], [r["bin"] for r in tb["durations"]],
          [r["amount_sat"] for r in tb["durations"]], "BTC staked by staking time",
          color("babylon"))
    fps = [r for r in tb["finality_providers"] if r["locked_sat"] > 0][:10]
    _top_share(ax[1][0], [r["moniker"] or _short(r["finality_provider_pk"]) for r in fps],
               [r["share"] for r in fps], "Share of locked BTC, top finality providers",
               color("babylon"))
    curve = ax[1][1]
    versions = sorted({r["params_version"] for r in tb["cap_fill"]}, key=str)
    for i, v in enumerate(versions):
        rows = [r for r in tb["cap_fill"] if r["params_version"] == v]
        curve.step([r["height"] for r in rows], _btc([r["cumulative_active_sat"] for r in rows]),
                    where="post", label=f"params v{v}", color=_FALLBACK[i % len(_FALLBACK)])
    if versions:
        curve.legend(fontsize=7)
    curve.set_title("Cap fill: active BTC staked per params version", fontsize=10)
    curve.set_xlabel("height")
    curve.set_ylabel("BTC")
    curve.grid(alpha=0.3)


def plot_powpeg(ins: dict[str, Any], fig: Figure) -> None:
    rows = ins["tables"]["months"]
    ax = fig.add_subplot()
    xs = range(len(rows))
    ax.bar(xs, _btc([r["pegin_sat"] for r in rows]), color=color("powpeg"), label="peg-in")
    ax.bar(xs, [-v for v in _btc([r["pegout_sat"] for r in rows])], color="#9467bd",
           label="peg-out")
    ax.plot(xs, _btc([r["net_sat"] for r in rows]), color="black", marker="o", label="net")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(list(xs), [r["month"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("BTC")
    ax.set_title("Powpeg peg-in and peg-out BTC per month", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot_stacks(ins: dict[str, Any], fig: Figure) -> None:
    cycles = ins["tables"]["cycles"]
    ax1, ax2 = fig.subplots(1, 2)
    labels = [str(r["reward_cycle"]) for r in cycles]
    xs = range(len(cycles))
    paid = _btc([r["paid_sat"] for r in cycles])
    ax1.bar(xs, paid, color=color("stacks"), label="paid to stackers")
    ax1.bar(xs, _btc([r["burned_sat"] for r in cycles]), bottom=paid, color="#ff7f0e",
            label="burned")
    ax1.set_xticks(list(xs), labels, fontsize=8)
    ax1.set_xlabel("reward cycle")
    ax1.set_ylabel("BTC")
    ax1.set_title("BTC committed by miners per reward cycle", fontsize=10)
    ax1.legend(fontsize=8)
    ax1.grid(axis="y", alpha=0.3)
    miners = ins["tables"]["miners"][:10]
    _top_share(ax2, [_short(m["miner"]) for m in miners], [m["share"] for m in miners],
               "Share of BTC committed, top miners", color("stacks"))


_PLOTTERS = {"babylon": plot_babylon, "powpeg": plot_powpeg, "stacks": plot_stacks}


def plot_insight(ins: dict[str, Any], path: str | Path) -> Path:
    """The insight's figure for its protocol, saved as PNG."""
    fig = _figure(10, 7 if ins["protocol"] == "babylon" else 4.8)
    _PLOTTERS[ins["protocol"]](ins, fig)
    fig.suptitle(f"{ins['protocol']} on {ins['chain']} up to height {ins['height']}",
                 fontsize=11)
    fig.tight_layout()
    return _save(fig, path)
