"""Helpers of the reliability tests: a chain with activity of every protocol on the test
node, the real CLI in a subprocess, and table comparisons that say what differs.

The chain is the scenarios of `regtest/scenarios` replayed one after another on one node
(their reorgs included), like `lockedbtc demo` does, so every adapter has positions,
spends, events and state to get right after a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text

from indexer.db import tables as t
from indexer.db.engine import make_engine
from regtest.demo import merge_params
from regtest.harness import Harness
from regtest.node import TestNode
from regtest.node.jsonrpc import handle
from regtest.scenario import Replayer, load_scenario, scenario_path
from tests.e2e.cli import LOCKEDBTC

#: Scenarios replayed for the activity chain, in order (those present in the checkout).
SCENARIOS = ("babylon_lifecycle", "basic", "coredao_redeem", "powpeg_pegins", "stacks_pox",
             "stacks_sbtc", "coredao_shapes")

Rows = dict[str, list[tuple[Any, ...]]]


class InProcessRpc:
    """The harness's RPC client, answered by the node's JSON-RPC handler in-process, so a
    test can build blocks while the node is not serving (an outage with a reorg behind it).
    """

    def __init__(self, node: TestNode) -> None:
        self._node = node
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "1.0", "id": self._id, "method": method,
                           "params": list(params)}).encode()
        reply = json.loads(handle(self._node.context, body).body)
        if reply.get("error"):
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    def close(self) -> None:
        """Nothing to close (the harness calls it)."""


def activity_harness(node: TestNode) -> tuple[Harness, dict[str, Any]]:
    """Replay the activity scenarios on a fresh regtest node; returns the harness (talking
    to the node in-process) and the merged params file content."""
    names = [n for n in SCENARIOS if scenario_path(n).exists()]
    params, scenarios = merge_params([load_scenario(n) for n in names])
    harness = Harness(node.url)
    harness.rpc.close()
    harness.rpc = InProcessRpc(node)  # type: ignore[assignment]
    for sc in scenarios:
        Replayer(harness, sc).run()
    return harness, params


def write_params(path: Path, params: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(params, sort_keys=True))
    return path


# ---------------------------------------------------------------------------- the CLI


def cli_env(level: str = "WARNING") -> dict[str, str]:
    return {**os.environ, "LOCKEDBTC_LOG_LEVEL": level}


def popen(args: Sequence[str], level: str = "INFO",
          extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The console script in the background, stdout and stderr captured, in a process
    group of its own (it may start worker processes) so `kill_all` can crash all of it."""
    return subprocess.Popen([*LOCKEDBTC, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**cli_env(level), **(extra_env or {})},
                            start_new_session=True)


def kill_all(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the indexer and every process it started (a crash of the whole program,
    as the OOM killer or a power cut would do), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(stat.parent.name))
    return out


def run(args: Sequence[str], level: str = "WARNING", timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOCKEDBTC, *args], capture_output=True, text=True,
                          timeout=timeout, env=cli_env(level))


def stop(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """SIGTERM, then the captured output (SIGKILL if it does not stop in time)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate(timeout=10)
        raise AssertionError(f"the indexer ignored SIGTERM for {timeout} s:\n{err}") from None


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 60,
             proc: subprocess.Popen[str] | None = None) -> None:
    """Poll `cond` until true; fail with `what` (and the process's stderr) on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the indexer exited ({proc.returncode}) before {what}:\n"
                                 f"{err}")
        time.sleep(0.1)
    detail = ""
    if proc is not None:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        detail = f"\nindexer stderr:\n{err}"
    raise AssertionError(f"timed out waiting for {what}{detail}")


# ---------------------------------------------------------------------------- databases


@contextlib.contextmanager
def engine_of(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def cursors(url: str) -> dict[str, tuple[int, str]]:
    """Each adapter's cursor; {} before the first commit (or before the tables exist)."""
    try:
        with engine_of(url) as engine, engine.connect() as conn:
            rows = conn.execute(select(t.cursors.c.adapter, t.cursors.c.height,
                                       t.cursors.c.hash)).all()
    except Exception:  # the schema may not exist yet
        return {}
    return {r.adapter: (r.height, r.hash) for r in rows}


def indexed_to(url: str, height: int, block_hash: str | None = None) -> bool:
    cur = cursors(url)
    return bool(cur) and all(h == height and (block_hash is None or bh == block_hash)
                             for h, bh in cur.values())


_TABLES = (t.blocks, t.cursors, t.positions, t.events, t.rejects, t.adapter_state)


def dump(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every indexed table as sorted rows (dicts), to compare databases row for row."""
    out: dict[str, list[dict[str, Any]]] = {}
    with engine_of(url) as engine, engine.connect() as conn:
        for table in _TABLES:
            rows = [dict(r._mapping) for r in conn.execute(select(table))]
            out[table.name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True,
                                                                    default=str))
    return out


def truncated(ref: Mapping[str, list[dict[str, Any]]],
              heights: Mapping[str, int]) -> dict[str, list[dict[str, Any]]]:
    """What `ref` (a complete index) looked like when each adapter had committed up to
    `heights[adapter]`: the state a crashed run must be in, row for row."""
    top = max(heights.values(), default=-1)
    out: dict[str, list[dict[str, Any]]] = {
        "blocks": [r for r in ref["blocks"] if r["height"] <= top]}
    hashes = {r["height"]: r["hash"] for r in out["blocks"]}
    out["cursors"] = sorted(({"adapter": a, "height": h, "hash": hashes.get(h)}
                             for a, h in heights.items()),
                            key=lambda r: json.dumps(r, sort_keys=True, default=str))
    for name in ("positions", "events", "rejects", "adapter_state"):
        rows = []
        for r in ref[name]:
            h = heights.get(r["protocol"])
            if h is None or r["height"] > h:
                continue
            if name == "positions" and r["spent_height"] is not None and r["spent_height"] > h:
                r = {**r, "spent_height": None, "spent_txid": None}
            rows.append(r)
        out[name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def diff(got: Mapping[str, list[dict[str, Any]]], want: Mapping[str, list[dict[str, Any]]],
         limit: int = 5) -> str:
    """A readable summary of the rows that differ (empty when the tables are equal)."""
    lines = []
    for name in want:
        g = {json.dumps(r, sort_keys=True, default=str) for r in got.get(name, [])}
        w = {json.dumps(r, sort_keys=True, default=str) for r in want[name]}
        if len(got.get(name, [])) != len(g):
            lines.append(f"{name}: duplicate rows")
        lines += [f"{name}: extra {r}" for r in sorted(g - w)[:limit]]
        lines += [f"{name}: missing {r}" for r in sorted(w - g)[:limit]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- PostgreSQL

PG_URL = os.environ.get("LOCKEDBTC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_admin() -> Engine:
    """An engine on the test server as its administrator (skips the test if none)."""
    import pytest

    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        if os.environ.get("LOCKEDBTC_REQUIRE_PG", "") not in ("", "0", "false"):
            raise
        pytest.skip(f"no PostgreSQL server at {PG_URL}: {str(exc).splitlines()[0]}")
    return engine


@contextlib.contextmanager
def pg_role_schema(password: str | None = None) -> Iterator[tuple[str, str, Engine]]:
    """A fresh login role owning a fresh schema in the test database.

    Yields (url, role, admin engine); the URL logs in as that role with the schema first
    on its search path. A dedicated role lets a test cut the indexer off the database
    (NOLOGIN + terminate its backends) without touching other tests' connections.
    """
    admin = pg_admin()
    role = f"lbtc_{uuid.uuid4().hex[:10]}"
    pw = password or uuid.uuid4().hex
    if not pw.isalnum():
        raise ValueError("test role passwords are alphanumeric")
    with admin.connect() as conn:
        # NOTE: role name and password are alphanumeric (checked/generated above), and
        # utility statements like CREATE ROLE take no bind parameters.
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{pw}'"))
        conn.execute(text(f"CREATE SCHEMA {role} AUTHORIZATION {role}"))
    base = PG_URL.split("://", 1)[1].split("@", 1)[1]
    url = f"postgresql+psycopg://{role}:{pw}@{base}?options=-csearch_path%3D{role}"
    try:
        yield url, role, admin
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER ROLE {role} LOGIN"))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE usename = :r"), {"r": role})
            conn.execute(text(f"DROP SCHEMA {role} CASCADE"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def pg_cut(admin: Engine, role: str) -> int:
    """Make the role's database unreachable: no new logins, every backend terminated."""
    with admin.connect() as conn:
        conn.execute(text(f"ALTER ROLE {role} NOLOGIN"))
        return pg_terminate(admin, role)


def pg_terminate(admin: Engine, role: str) -> int:
    with admin.connect() as conn:
        rows = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE usename = :r AND pid <> pg_backend_pid()"),
                            {"r": role}).all()
    return len(rows)


def pg_restore(admin: Engine, role: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f"ALTER ROLE {role} LOGIN"))
