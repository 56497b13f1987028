"""Parallel backfill: fetch and pre-filter blocks ahead in a pool, scan them in order.

Adapters keep state from block to block (tracked outpoints, key/value state), so the scan
itself must run in height order in one place (the writer: `Syncer` in the calling
process). What does not need that state is the bulk of the work on a block with nothing
of interest, and it runs in the pool:

- fetching: each worker holds its own keep-alive connection to the node (`NodeSource` is
  not thread-safe) and fetches a chunk of heights at a time (one batched `getblockhash`,
  then REST `.bin` or one batched `getblock <hash> 0`);
- the outline walk (`outline_block`): every input's outpoint, every OP_RETURN, and (with
  the compiled walk) the merkle root check; no `Tx` views;
- the needle search: for the needles every adapter had when the chunk was dispatched,
  which transactions hold them.

The pool is made of threads when the compiled walk (`indexer.chain._outline`) is there,
and of processes otherwise:

- the compiled walk and needle search release the GIL, so threads run them on every core,
  and the raw block never leaves the process. Shipping a 1.6 MB block from a worker
  process to the writer costs ~1.5 ms of CPU (pickle, pipe, unpickle; `bench.walk`), as
  much as the compiled walk and merkle check themselves (~1.4 ms);
- the pure-Python walk holds the GIL, so it needs processes. A worker sends back a
  `Digest` per block (header, input outpoints, needles found) and the raw bytes only when
  some needle was found (a block worth scanning).

Either way the writer runs the unchanged sync step over `DigestCandidate`s: it builds `Tx`
views of the few candidate transactions only. Whenever it needs something the worker did
not provide (a needle learned since dispatch, a tracked spend in a block whose bytes a
worker process did not ship, a block the worker could not fetch or parse), the candidate
fetches the block again over the writer's own connection, so the result is always exactly
what a single worker computes. Only when an adapter sets `scans_every_block` (or the
syncer runs with `full_blocks`) does a worker process ship every raw block.

Memory stays flat: at most `ahead` chunks are in flight, whatever the range.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from indexer.chain.block import (
    Block,
    BlockOutline,
    Needle,
    ParseError,
    Tx,
    compiled_walk,
    outline_block,
    parse_block,
)
from indexer.sync import (
    BlockFeed,
    BlockSource,
    Candidate,
    OutlineHeader,
    RawCandidate,
    bad_block,
    check_merkle,
    partial_block,
)

__all__ = ["DigestCandidate", "NodeArgs", "Pipeline", "default_workers"]

_logger = logging.getLogger(__name__)


def default_workers() -> int:
    """One worker per core."""
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class NodeArgs:
    """How a worker process reaches the node (the arguments of `source.connect`)."""

    url: str | None
    cookie_file: Path | None = None
    retry_seconds: float = 30.0
    use_rest: bool | None = None
    #: the writer's pid, taken in the writer: a worker that starts after the writer died
    #: would otherwise take its new parent (init) for the writer and never exit
    parent_pid: int = field(default_factory=os.getpid)


@dataclass(frozen=True)
class Job:
    """Heights low..high, and what to look for in them."""

    low: int
    high: int
    needles: frozenset[Needle]
    want_raw: bool  # every block is scanned whole: ship every raw block


@dataclass(frozen=True)
class Digest:
    """What a worker found in one block. `outline` is None when the worker could not make
    sense of the bytes (the writer then judges them itself, with the precise error)."""

    height: int
    hash: str
    outline: BlockOutline | None
    checked: frozenset[Needle]
    #: per needle found, the indexes of the transactions holding it (searched here, so
    #: that the writer, the one serial step, never searches a block itself)
    hits: dict[Needle, frozenset[int]]
    raw: bytes | None


# ---------------------------------------------------------------------------- worker side

# The worker's NodeSource (object: keeps imports lazy), per thread: a worker process runs
# its initializer and its jobs in one thread, a pool thread has its own connection.
_local = threading.local()


def _exit_with_parent(parent: int) -> None:
    """A worker whose writer died (even by SIGKILL, which runs no cleanup) exits too,
    instead of holding node connections forever."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _init_worker(args: NodeArgs) -> None:
    """Initializer of a worker process."""
    import signal

    # NOTE: Ctrl-C reaches the whole process group; the writer decides when to stop and
    # shuts the pool down, a worker must not die mid-chunk with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(args.parent_pid)
    _local.source = _connect(args)


def _connect(args: NodeArgs) -> object:
    from indexer.chain.source import connect

    return connect(args.url, cookie_file=args.cookie_file, retry_seconds=args.retry_seconds,
                   use_rest=args.use_rest)


class _ThreadSources:
    """One connection per pool thread, made on its first job, all closed at the end."""

    def __init__(self, args: NodeArgs) -> None:
        self.args = args
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[object] = []

    def get(self) -> object:
        src = getattr(self._local, "source", None)
        if src is None:
            src = self._local.source = _connect(self.args)
            with self._lock:
                self._all.append(src)
        return src

    def close(self) -> None:
        from indexer.chain.source import NodeSource

        with self._lock:
            for src in self._all:
                assert isinstance(src, NodeSource)
                src.close()
            self._all.clear()


def _digest(height: int, want: str, raw: bytes, job: Job) -> Digest:
    try:
        outline = outline_block(raw)
    except ParseError:
        return Digest(height, want, None, frozenset(), {}, raw)
    if outline.header.hash != want or outline.merkle_root(raw) != outline.header.merkle_root:
        # NOTE: the writer re-fetches such a block itself and stops with the precise error.
        return Digest(height, want, None, frozenset(), {}, raw)
    hits = {n: frozenset(txs) for n, txs in outline.find_needles(raw, job.needles).items()
            if txs}
    keep = raw if hits or job.want_raw else None
    return Digest(height, want, outline, job.needles, hits, keep)


def _run_job(job: Job, sources: _ThreadSources | None = None) -> list[Digest] | str:
    """Fetch and digest one chunk; a string says why the worker could not fetch it.
    `sources` is given in a pool thread (a worker process connected in its initializer)."""
    from indexer.chain.source import NodeSource

    heights = list(range(job.low, job.high + 1))
    try:
        src = getattr(_local, "source", None) if sources is None else sources.get()
    except Exception as exc:  # the node is down: the writer reports it on its own try
        return f"{type(exc).__name__}: {exc}"
    assert isinstance(src, NodeSource), "worker used before its initializer ran"
    try:
        hashes = src.block_hashes(heights)
        raws = src.raw_blocks(hashes)
    except Exception as exc:  # the writer retries over its own connection and reports
        return f"{type(exc).__name__}: {exc}"
    return [_digest(h, want, raw, job) for h, want, raw in zip(heights, hashes, raws,
                                                               strict=True)]


# ---------------------------------------------------------------------------- writer side


class DigestCandidate(OutlineHeader):
    """A `Candidate` from a worker's digest; fetches the block again only if it must."""

    __slots__ = ("_block", "_fetch", "_outline", "_raw", "_txs", "digest", "height")

    def __init__(self, digest: Digest, outline: BlockOutline,
                 fetch: Callable[[str], bytes]) -> None:
        self.digest = digest
        self.height = digest.height
        self._outline = outline
        self._raw = digest.raw
        self._fetch = fetch
        self._block: Block | None = None
        self._txs: dict[int, Tx] = {}

    @property
    def hash(self) -> str:
        return self.digest.hash

    def txs_containing(self, needle: Needle) -> set[int]:
        if needle in self.digest.checked:
            return set(self.digest.hits.get(needle, ()))
        raw = self.raw_block()  # before the outline: a re-fetch replaces it
        return self._outline.txs_containing(raw, needle)

    def raw_block(self) -> bytes:
        if self._raw is None:
            raw = self._fetch(self.digest.hash)
            # NOTE: fetched by hash, so the same transactions; but the witness is not
            # covered by the block hash, so byte offsets may differ: outline it again.
            try:
                outline = outline_block(raw)
            except ParseError as exc:
                raise bad_block(self.height, self.hash, exc) from None
            if outline.header.hash != self.hash:
                raise bad_block(self.height, self.hash,
                                ParseError(f"the node now serves {outline.header.hash}", 0))
            check_merkle(self.height, self.hash, outline, raw)
            self._raw, self._outline = raw, outline
        return self._raw

    def outline(self) -> BlockOutline:
        return self._outline

    def partial(self, indexes: Iterable[int]) -> Block:
        raw = self.raw_block()
        return partial_block(self, self._outline, raw, indexes, self._txs)

    def block(self) -> Block:
        if self._block is None:
            try:
                block = parse_block(self.raw_block())
            except ParseError as exc:
                raise bad_block(self.height, self.hash, exc) from None
            self._block = block
        return self._block


class Pipeline:
    """A pool of workers feeding a `Syncer` (use as a context manager): threads with the
    compiled walk, processes without it."""

    def __init__(self, args: NodeArgs, workers: int, *, chunk: int = 4,
                 ahead: int | None = None) -> None:
        if workers < 1:
            raise ValueError("a pipeline needs at least one worker")
        self.args = args
        self.workers = workers
        self.chunk = chunk
        # Threads when the compiled walk releases the GIL; the pure-Python one does not.
        self.threads = compiled_walk()
        # Enough chunks in flight to keep every worker busy while the writer works.
        self.ahead = ahead if ahead is not None else 2 * workers + 1
        self._pool: Executor | None = None
        self._sources = _ThreadSources(args)

    @property
    def kind(self) -> str:
        return "threads" if self.threads else "processes"

    def __enter__(self) -> Pipeline:
        if self.threads:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="fetch")
        else:
            # NOTE: spawn, not fork: the writer holds database and node connections (and
            # maybe threads) that a forked child must not inherit.
            self._pool = ProcessPoolExecutor(self.workers,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker,
                                             initargs=(self.args,))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._sources.close()

    def _submit(self, pool: Executor, job: Job) -> Future[list[Digest] | str]:
        if self.threads:
            # In this process the raw bytes cost nothing to keep: always keep them.
            job = Job(job.low, job.high, job.needles, True)
            return pool.submit(_run_job, job, self._sources)
        return pool.submit(_run_job, job)

    def feed(self, source: BlockSource,
             needles: Callable[[], tuple[frozenset[Needle], bool]]) -> BlockFeed:
        """A `BlockFeed` for `Syncer.sync`; `needles` gives the adapters' current needles
        and whether every block is scanned whole (`Syncer.needles`). `source` is the
        writer's own connection, used whenever a block must be fetched again."""

        def fetch(block_hash: str) -> bytes:
            return source.raw_blocks([block_hash])[0]

        def stream(start: int, end: int) -> Iterator[Candidate]:
            pool = self._pool
            if pool is None:
                raise RuntimeError("Pipeline.feed used outside its `with` block")
            pending: deque[tuple[Job, Future[list[Digest] | str]]] = deque()
            low = start
            try:
                while pending or low <= end:
                    while low <= end and len(pending) < self.ahead:
                        found, every = needles()
                        job = Job(low, min(end, low + self.chunk - 1), found, every)
                        pending.append((job, self._submit(pool, job)))
                        low = job.high + 1
                    job, fut = pending.popleft()
                    result = fut.result()
                    if isinstance(result, str):
                        _logger.info("worker could not fetch %d..%d (%s); fetching here",
                                     job.low, job.high, result)
                        yield from _fetch_here(source, job)
                        continue
                    for d in result:
                        if d.outline is None:
                            assert d.raw is not None
                            yield RawCandidate(d.height, d.hash, d.raw)  # raises the error
                        else:
                            yield DigestCandidate(d, d.outline, fetch)
            finally:
                for _, f in pending:
                    f.cancel()

        return stream


def _fetch_here(source: BlockSource, job: Job) -> Iterator[Candidate]:
    heights = list(range(job.low, job.high + 1))
    hashes = source.block_hashes(heights)
    for h, want, raw in zip(heights, hashes, source.raw_blocks(hashes), strict=True):
        yield RawCandidate(h, want, raw)
