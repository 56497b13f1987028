"""The `lockedbtc` command line: thin click commands over `sync`, `daemon` and `queries`.

Common options (--db, --rpc, --params, --confirmations, --cookie-file, --config) are
accepted before or after the command name. Operator errors print one line and exit 2; a
malformed block from the node exits 3; nothing prints a traceback or a password.
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError

from adapters import registry
from indexer import render
from indexer.config import Settings, resolve
from indexer.errors import BadBlockError, OperatorError, StorageError, redact

_logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

_COMMON = [
    click.option("--db", envvar="LOCKEDBTC_DB", default=None,
                 help="Database URL  [default: sqlite:///lockedbtc.sqlite3]"),
    click.option("--rpc", envvar="LOCKEDBTC_RPC", default=None,
                 help="Node RPC URL, http://user:pass@host:port  [default: the chain's local "
                      "port, credentials from the cookie file]"),
    click.option("--params", envvar="LOCKEDBTC_PARAMS", default=None,
                 help="Params file (JSON or TOML), one section per adapter"),
    click.option("--confirmations", envvar="LOCKEDBTC_CONFIRMATIONS", type=int, default=None,
                 help="Hold back this many blocks below the tip  [default: 0]"),
    click.option("--cookie-file", envvar="LOCKEDBTC_COOKIE_FILE", default=None,
                 help="The node's .cookie file when --rpc has no credentials"),
    click.option("--rpc-retry-seconds", envvar="LOCKEDBTC_RPC_RETRY_SECONDS", type=float,
                 default=None,
                 help="How long to retry an unreachable or warming-up node  [default: 30]"),
    click.option("--config", envvar="LOCKEDBTC_CONFIG", default=None,
                 help="Config file (TOML or JSON) with db, rpc, params, confirmations"),
]
_KEYS = ("db", "rpc", "params", "confirmations", "cookie_file", "rpc_retry_seconds", "config")


def common(func: F) -> F:
    """Accept the common options on a command and fold them over the group's."""
    for opt in reversed(_COMMON):
        func = opt(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        base: dict[str, Any] = dict(ctx.obj or {})
        for k in _KEYS:
            v = kwargs.pop(k)
            if v is not None:
                base[k] = v
        ctx.obj = base
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def settings() -> Settings:
    o = click.get_current_context().obj or {}
    return resolve(config=o.get("config"), db=o.get("db"), rpc=o.get("rpc"),
                   params=o.get("params"), confirmations=o.get("confirmations"),
                   cookie_file=o.get("cookie_file"),
                   rpc_retry_seconds=o.get("rpc_retry_seconds"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", envvar="LOCKEDBTC_LOG_LEVEL", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.version_option(package_name="lockedbtc")
@common
def cli(log_level: str) -> None:
    """How much bitcoin is locked in L2 and staking protocols, from the chain alone."""
    from indexer import log

    log.setup(log_level)


# ---------------------------------------------------------------------------- indexing


def _stop_on_signals() -> threading.Event:
    """SIGINT/SIGTERM ask for a stop after the current batch instead of killing it."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second signal means now
        _logger.info("%s received: stopping after the current batch",
                     signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


@cli.command()
@click.option("--from", "from_", type=int, default=None,
              help="First height  [default: each adapter's start height]")
@click.option("--to", type=int, default=None, help="Last height  [default: tip - confirmations]")
@click.option("--adapter", "adapters", multiple=True, help="Only this adapter (repeatable)")
@click.option("--batch", type=int, default=100, show_default=True,
              help="Heights per database transaction")
@click.option("--quiet", is_flag=True, help="No progress output")
@click.option("--workers", type=int, default=None,
              help="Processes fetching and pre-filtering blocks (1: all in this process; "
                   "ranges under 64 heights always use 1)  [default: one per core]")
@common
def backfill(from_: int | None, to: int | None, adapters: tuple[str, ...], batch: int,
             quiet: bool, workers: int | None) -> None:
    """Index a height range; resumable, and a no-op on a range already done."""
    from indexer.backfill import run_backfill

    run_backfill(settings(), from_, to, list(adapters), batch, quiet, _stop_on_signals(),
                 workers)


@cli.command()
@click.option("--adapter", "adapters", multiple=True, help="Only this adapter (repeatable)")
@click.option("--poll-interval", type=float, default=2.0, show_default=True,
              help="Seconds between tip polls")
@click.option("--zmq", "zmq_url", default=None,
              help="Bitcoin Core's zmqpubsequence endpoint, e.g. tcp://127.0.0.1:28332")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics here")
@common
def run(adapters: tuple[str, ...], poll_interval: float, zmq_url: str | None,
        metrics_port: int | None) -> None:
    """Catch up, then follow the tip until SIGINT/SIGTERM."""
    from indexer.backfill import run_daemon

    run_daemon(settings(), list(adapters), poll_interval, zmq_url, metrics_port,
               _stop_on_signals())


# ---------------------------------------------------------------------------- queries


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="JSON output")
@common
def status(as_json: bool) -> None:
    """Node tip, indexed height and each adapter's cursor."""
    from indexer.app import open_node, open_store, status_report

    s = settings()
    store = open_store(s)
    node = open_node(s)
    report = status_report(store, node)
    for name in registry.names():
        report["adapters"].setdefault(name, {"height": None})
    if as_json:
        click.echo(render.to_json(report))
        return
    click.echo(f"chain {report['chain']}, node tip {report['tip_height']}, "
               f"indexed {report['indexed_height']}")
    click.echo(render.table([[n, a["height"]] for n, a in report["adapters"].items()],
                            ["adapter", "height"], right=(1,)))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="JSON output")
@click.option("--at-height", type=int, default=None, help="As of this height")
@click.option("--protocol", default=None, help="Only this protocol")
@common
def locked(as_json: bool, at_height: int | None, protocol: str | None) -> None:
    """BTC locked per protocol: unspent outputs the protocol controls."""
    from indexer.app import locked_report, open_store

    s = settings()
    report = locked_report(open_store(s), s, at_height, protocol)
    click.echo(render.to_json(report) if as_json else render.locked_table(report))


def _at(store: Any, at_height: int | None) -> int:
    from indexer.db import queries

    h = queries.indexed_height(store.engine)
    if h is None:
        raise OperatorError("nothing has been indexed yet", "run `lockedbtc backfill` first")
    return h if at_height is None else at_height


@cli.command()
@click.option("--protocol", required=True, help="Adapter name")
@click.option("--json", "as_json", is_flag=True, help="JSON output")
@click.option("--csv", "as_csv", is_flag=True, help="CSV output")
@click.option("--at-height", type=int, default=None, help="As of this height")
@click.option("--all", "include_spent", is_flag=True, help="Spent positions too")
@common
def positions(protocol: str, as_json: bool, as_csv: bool, at_height: int | None,
              include_spent: bool) -> None:
    """Outputs a protocol controls (unspent at the height unless --all)."""
    from indexer.app import open_store
    from indexer.db import queries

    store = open_store(settings())
    rows = queries.positions(store.engine, protocol, _at(store, at_height),
                             include_spent=include_spent)
    if as_json:
        click.echo(render.to_json(rows))
    elif as_csv:
        click.echo(render.to_csv(rows), nl=False)
    else:
        click.echo(render.table(
            [[f"{r['txid']}:{r['vout']}", render.btc(r["value_sat"]), r["height"], r["status"],
              r["spent_height"] or ""] for r in rows],
            ["outpoint", "BTC", "height", "status", "spent"], right=(1, 2)))


@cli.command()
@click.option("--protocol", required=True, help="Adapter name")
@click.option("--json", "as_json", is_flag=True, help="JSON output")
@click.option("--csv", "as_csv", is_flag=True, help="CSV output")
@click.option("--from", "from_", type=int, default=None, help="First height")
@click.option("--to", type=int, default=None, help="Last height")
@click.option("--kind", "kinds", multiple=True, help="Only this kind (repeatable)")
@common
def events(protocol: str, as_json: bool, as_csv: bool, from_: int | None, to: int | None,
           kinds: tuple[str, ...]) -> None:
    """A protocol's events in chain order."""
    from indexer.app import open_store
    from indexer.db import queries

    rows = queries.events(open_store(settings()).engine, protocol, from_, to, kinds)
    if as_json:
        click.echo(render.to_json(rows))
    elif as_csv:
        click.echo(render.to_csv(rows), nl=False)
    else:
        click.echo(render.table(
            [[r["height"], r["txid"], r["kind"],
              "" if r["amount_sat"] is None else render.btc(r["amount_sat"])] for r in rows],
            ["height", "txid", "kind", "BTC"], right=(0, 3)))


@cli.command()
@click.option("--protocol", required=True, help="Adapter name")
@click.option("--json", "as_json", is_flag=True, help="JSON output")
@click.option("--from", "from_", type=int, default=None, help="First height")
@click.option("--to", type=int, default=None, help="Last height")
@common
def rejects(protocol: str, as_json: bool, from_: int | None, to: int | None) -> None:
    """Transactions that looked like the protocol but broke its rules, and why."""
    from indexer.app import open_store
    from indexer.db import queries

    rows = queries.rejects(open_store(settings()).engine, protocol, from_, to)
    if as_json:
        click.echo(render.to_json(rows))
    else:
        click.echo(render.table([[r["height"], r["txid"], r["reason"]] for r in rows],
                                ["height", "txid", "reason"], right=(0,)))


@cli.group()
def inspect() -> None:
    """Look at one transaction without indexing anything."""


@inspect.command("tx")
@click.argument("hex_")
@click.option("--json", "as_json", is_flag=True, help="JSON output")
@click.option("--chain", default="main", show_default=True,
              type=click.Choice(["main", "test", "testnet4", "signet", "regtest"]))
@common
def inspect_tx(hex_: str, as_json: bool, chain: str) -> None:
    """What each adapter can tell from this one raw transaction (hex)."""
    from indexer.inspect import inspect_hex

    found = inspect_hex(settings(), hex_, chain)
    if as_json:
        click.echo(render.to_json(found))
    elif not found:
        click.echo("no protocol matches this transaction")
    else:
        for item in found:
            click.echo(f"{item['protocol']}: {item['kind']}")
            for k, v in item.items():
                if k not in ("protocol", "kind"):
                    click.echo(f"  {k}: {v}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the `locked --json` object")
@click.option("--db", "db_path", default="lockedbtc-demo.sqlite3", show_default=True,
              help="SQLite file to create (replaced if it exists)")
@click.option("--quiet", is_flag=True, help="No progress output")
def demo(as_json: bool, db_path: str, quiet: bool) -> None:
    """Start a node, replay every scenario, index it into SQLite, print the locked table."""
    from regtest.demo import demo_notes, run_demo  # the harness and scenarios live in regtest/

    report = run_demo(db_path, quiet=quiet or as_json)
    if as_json:
        click.echo(render.to_json(report))
        return
    click.echo(render.locked_table(report))
    notes = demo_notes(db_path)
    if notes:
        click.echo("\n" + "\n".join(notes))
    click.echo(f"\nThe demo database is {db_path}: try `lockedbtc --db sqlite:///{db_path} "
               "events --protocol babylon`.")


# ---------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Console entry: operator errors are one line (exit 2), never a traceback."""
    try:
        cli.main(args=argv, prog_name="lockedbtc", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OperatorError as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except OperationalError as exc:
        reason = redact(str(exc.orig).strip().splitlines()[0]) if exc.orig else "unknown"
        err = StorageError(f"database error: {reason}", "is the database server reachable?")
        click.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except BadBlockError as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)

from indexer.cli_analytics import register as _register_analytics  # noqa: E402

_register_analytics(cli)
