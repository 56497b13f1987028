"""The analyst and operator commands: `history`, `insights` and `serve`.

Registered on the main group by `indexer.cli` (`register(cli)` at its end). The commands
are plain functions here and get the common options (--db, --config, ...) at registration,
so importing this module never needs `indexer.cli` (which imports this one).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from indexer import render

_FMT = [click.option("--json", "as_json", is_flag=True, help="JSON output"),
        click.option("--csv", "as_csv", is_flag=True, help="CSV output")]


def _formats(func: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(_FMT):
        func = opt(func)
    return func


def _store_and_chain() -> tuple[Any, str]:
    from indexer.app import open_store, stored_chain
    from indexer.cli import settings

    store = open_store(settings())
    return store, stored_chain(store)


def _pct(share: float | None) -> str:
    return "" if share is None else f"{100 * share:.4f}%"


# ---------------------------------------------------------------------------- history


@click.option("--protocol", default="all", show_default=True,
              help="One protocol, or `all` (every indexed one)")
@click.option("--interval", type=click.Choice(["block", "day", "week", "cycle"]),
              default="day", show_default=True,
              help="One point per changing block, UTC day, UTC week (from Monday), or cycle")
@click.option("--from", "from_", type=int, default=None,
              help="First height  [default: the first change]")
@click.option("--to", type=int, default=None, help="Last height  [default: indexed height]")
@click.option("--cycle-length", type=int, default=None,
              help="Blocks per cycle for --interval cycle  [default: inferred from the "
                   "reward_cycle of stored block_commit events]")
@click.option("--cycle-start", type=int, default=None,
              help="First height of cycle 0 with --cycle-length  [default: inferred, else 0]")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a PNG chart here")
@_formats
def history_cmd(protocol: str, interval: str, from_: int | None, to: int | None,
                cycle_length: int | None, cycle_start: int | None, plot_path: str | None,
                as_json: bool, as_csv: bool) -> None:
    """Locked BTC per protocol over time, with the share of issued supply."""
    from indexer.history import history, history_rows

    store, chain = _store_and_chain()
    report = history(store.engine, chain, protocol=protocol, interval=interval, low=from_,
                     high=to, cycle_length=cycle_length, cycle_start=cycle_start)
    if plot_path:
        from indexer.plots import plot_history

        plot_history(report, plot_path)
    if as_json:
        click.echo(render.to_json(report))
    elif as_csv:
        click.echo(render.to_csv(history_rows(report)), nl=False)
    else:
        protos = report["protocols"]
        rows = [[pt["label"], pt["height"], *(render.btc(pt["locked_sat"][p]) for p in protos),
                 render.btc(pt["total_sat"]), _pct(pt["share_of_supply"])]
                for pt in report["points"]]
        click.echo(render.table(rows, [interval, "height", *protos, "total", "of supply"],
                                right=tuple(range(1, len(protos) + 4))))
        if plot_path:
            click.echo(f"plot written to {plot_path}")


# ---------------------------------------------------------------------------- insights


@click.argument("protocol", type=click.Choice(["babylon", "powpeg", "stacks"]))
@click.option("--at-height", type=int, default=None, help="As of this height")
@click.option("--table", "table_name", default=None,
              help="With --csv: which table  [babylon: finality_providers, amounts, "
                   "durations, cap_fill; powpeg: months; stacks: cycles, miners]")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a PNG chart here")
@click.option("--fp-registry", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Babylon finality-provider registry JSON  [default: the shipped one]")
@_formats
def insights_cmd(protocol: str, at_height: int | None, table_name: str | None,
                 plot_path: str | None, fp_registry: str | None, as_json: bool,
                 as_csv: bool) -> None:
    """Analyst views: babylon stakers/FPs/caps, powpeg monthly flows, stacks commits."""
    from indexer import insights

    store, chain = _store_and_chain()
    kwargs: dict[str, Any] = ({"fp_registry": Path(fp_registry)}
                              if fp_registry and protocol == "babylon" else {})
    ins = insights.INSIGHTS[protocol](store.engine, chain, at_height, **kwargs)
    name = table_name or insights.MAIN_TABLE[protocol]
    if name not in ins["tables"]:
        raise click.BadParameter(f"{name!r}; {protocol} has {', '.join(ins['tables'])}",
                                 param_hint="--table")
    if plot_path:
        from indexer.plots import plot_insight

        plot_insight(ins, plot_path)
    if as_json:
        click.echo(render.to_json(ins))
    elif as_csv:
        click.echo(render.to_csv(ins["tables"][name]), nl=False)
    else:
        click.echo(f"{protocol} on {chain} up to height {ins['height']}")
        for k, v in ins["summary"].items():
            shown = render.btc(v) if k.endswith("_sat") else (
                _pct(v) if isinstance(v, float) else v)
            click.echo(f"  {k}: {shown}")
        for tname in ([name] if table_name else list(ins["tables"])):
            click.echo(f"\n{tname}")
            click.echo(_table(ins["tables"][tname]))
        if plot_path:
            click.echo(f"\nplot written to {plot_path}")


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    keys = list(rows[0])
    cells = [[render.btc(r[k]) if k.endswith("_sat") and isinstance(r[k], int)
              else _pct(r[k]) if isinstance(r[k], float) else r[k] for k in keys] for r in rows]
    return render.table(cells, keys)


# ---------------------------------------------------------------------------- serve


@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the dashboard")
@click.option("--port", type=int, default=8080, show_default=True, help="TCP port")
def serve_cmd(host: str, port: int) -> None:
    """Read-only JSON API and dashboard over the database, until SIGINT/SIGTERM."""
    import signal
    import threading

    from indexer.app import open_store
    from indexer.cli import settings
    from indexer.serve.server import make_server

    s = settings()
    server = make_server(open_store(s), s, host, port)

    def stop(_signum: int, _frame: Any) -> None:
        # shutdown() blocks until serve_forever returns, so it cannot run on this thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    click.echo(f"serving http://{host}:{server.server_address[1]}/ (read-only; Ctrl-C stops)")
    try:
        server.serve_forever()
    finally:
        server.server_close()


# ---------------------------------------------------------------------------- registration


def register(group: click.Group) -> None:
    """Add `history`, `insights` and `serve` to the main group, with the common options."""
    from indexer.cli import common

    for name, func in (("history", history_cmd), ("insights", insights_cmd),
                       ("serve", serve_cmd)):
        group.command(name)(common(func))
