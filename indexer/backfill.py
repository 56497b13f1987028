"""The two indexing commands: `backfill` over a range and `run` as a daemon."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack

from indexer.app import adapters_for, open_node, open_store
from indexer.chain.block import native_walk
from indexer.config import Settings
from indexer.daemon import Daemon, Waker
from indexer.errors import ConfigError, OperatorError
from indexer.pipeline import NodeArgs, Pipeline, default_workers
from indexer.progress import ProgressReporter
from indexer.sync import Syncer

_logger = logging.getLogger(__name__)


def _first_height(syncer: Syncer, from_: int | None) -> int:
    """Where this backfill starts: above each adapter's cursor, never leaving a gap."""
    if from_ is None:
        return syncer.next_height()
    cursors = syncer.store.cursors()
    starts = []
    for a in syncer.adapters:
        c = cursors.get(a.name)
        if c is None:
            starts.append(from_)
        elif c[0] + 1 < from_:
            raise OperatorError(
                f"adapter {a.name} has indexed up to height {c[0]}; starting at {from_} "
                f"would leave heights {c[0] + 1}..{from_ - 1} out",
                f"use --from {c[0] + 1} or lower")
        else:
            starts.append(max(from_, c[0] + 1))
    return min(starts)


#: Below this many heights a worker pool costs more to start than it saves.
PIPELINE_MIN_BLOCKS = 64


def run_backfill(settings: Settings, from_: int | None, to: int | None, names: list[str],
                 batch: int, quiet: bool, stop: threading.Event,
                 workers: int | None = None) -> None:
    """Index `from_`..`to`. `workers` > 1 fetches and pre-filters blocks in that many
    processes (default: one per core); 1 does everything in this process."""
    if batch < 1:
        raise ConfigError("--batch must be at least 1")
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1")
    store = open_store(settings)
    node = open_node(settings)
    store.check_chain(node.chain)
    syncer = Syncer(node, store, adapters_for(settings, node.chain, names), node.chain,
                    batch_blocks=batch)
    syncer.check_reorg()
    tip = node.tip()[0]
    end = tip - settings.confirmations if to is None else to
    if end > tip:
        raise OperatorError(f"--to {end} is above the node's tip ({tip})",
                            "wait for the node to sync, or lower --to")
    start = _first_height(syncer, from_)
    if start > end:
        _logger.info("nothing to do: heights up to %d are already indexed", end)
        return
    _logger.info("backfill %d..%d on %s (%s)", start, end, node.chain,
                 ", ".join(a.name for a in syncer.adapters))
    reporter = ProgressReporter(start, end, quiet=quiet)
    n = default_workers() if workers is None else workers
    with ExitStack() as stack:
        feed = None
        if n > 1 and end - start + 1 >= PIPELINE_MIN_BLOCKS:
            pipe = stack.enter_context(Pipeline(
                NodeArgs(settings.rpc, settings.cookie_file, settings.rpc_retry_seconds,
                         node.uses_rest), n))
            feed = pipe.feed(node, syncer.needles)
            _logger.info("fetching and pre-filtering in %d worker %s; block walk: %s", n,
                         pipe.kind, native_walk())
        while not stop.is_set():
            done = syncer.sync(start, end, should_stop=stop.is_set, on_progress=reporter,
                               feed=feed)
            if done >= end:
                break
            if syncer.check_reorg() is None and done < start:
                raise OperatorError(f"the node's block at height {start} does not extend "
                                    "ours", "is the node reorganising? run the command again")
            start = _first_height(syncer, from_)
    reporter.finish()
    if stop.is_set():
        _logger.info("stopped; run the same command again to resume")
    else:
        _logger.info("backfill done up to height %d", end)


def run_daemon(settings: Settings, names: list[str], poll_interval: float,
               zmq_url: str | None, metrics_port: int | None,
               stop: threading.Event) -> None:
    store = open_store(settings)
    node = open_node(settings)
    store.check_chain(node.chain)
    syncer = Syncer(node, store, adapters_for(settings, node.chain, names), node.chain)
    waker: Waker | None = None
    if zmq_url:
        from indexer.chain.zmq_notify import SequenceWaker

        waker = SequenceWaker(zmq_url)
    daemon = Daemon(syncer, node, confirmations=settings.confirmations,
                    poll_interval=poll_interval, waker=waker, stop=stop,
                    on_progress=ProgressReporter(syncer.next_height(), node.tip()[0],
                                                 quiet=True))
    if metrics_port is not None:
        from indexer.metrics import serve_metrics

        serve_metrics(daemon.stats, metrics_port)
    _logger.info("following the %s chain (%s)", node.chain,
                 ", ".join(a.name for a in syncer.adapters))
    daemon.run()
