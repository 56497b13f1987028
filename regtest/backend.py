"""Which regtest node to run: a real bitcoind, a Bitcoin Core container, or the test node.

`start_node()` prefers the real thing: a `bitcoind` binary (env `BITCOIND`, else `PATH`),
then a Bitcoin Core container when a Docker engine answers, then the project's own test
node (`python -m regtest serve`). `LOCKEDBTC_NODE=testnode|bitcoind|docker` forces one.
Every node gets a fresh, throw-away data directory, so scenarios start from genesis.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from regtest.rpc import RpcClient, RpcError

_logger = logging.getLogger(__name__)

#: A published Bitcoin Core image (Docker Hub `bitcoin/bitcoin`); override with the env var.
DOCKER_IMAGE = os.environ.get("LOCKEDBTC_BITCOIN_IMAGE", "bitcoin/bitcoin:28.1")
RPC_USER = "lockedbtc"
START_TIMEOUT = 60.0
KINDS = ("bitcoind", "docker", "testnode")


class NodeUnavailable(RuntimeError):
    """The requested kind of node cannot be started here."""


@dataclass
class RunningNode:
    """A started node: its RPC URL (credentials included) and how to stop it."""

    kind: str
    url: str
    _stop: Callable[[], None] = field(repr=False)

    def stop(self) -> None:
        self._stop()

    def __enter__(self) -> RunningNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_bitcoind() -> str | None:
    path = os.environ.get("BITCOIND")
    if path:
        return path if os.access(path, os.X_OK) else None
    return shutil.which("bitcoind")


def bitcoind_args(datadir: str, rpc_port: int, p2p_port: int, password: str,
                  chain: str = "regtest") -> list[str]:
    """The command-line options for a throw-away bitcoind (binary path not included)."""
    return [
        f"-datadir={datadir}", f"-chain={chain}", "-server=1", "-rest=1", "-txindex=0",
        "-listen=0", "-dnsseed=0", "-fixedseeds=0", "-discover=0",
        f"-port={p2p_port}", f"-rpcport={rpc_port}", "-rpcbind=127.0.0.1",
        "-rpcallowip=127.0.0.1", f"-rpcuser={RPC_USER}", f"-rpcpassword={password}",
        "-fallbackfee=0.0001",
        # NOTE: harness blocks carry 2011-era timestamps (genesis + 600*h); without this the
        # node would call itself in initial block download forever.
        "-maxtipage=2147483647",
        "-printtoconsole=0",
    ]


def wait_for_rpc(url: str, timeout: float = START_TIMEOUT,
                 alive: Callable[[], bool] = lambda: True) -> None:
    """Poll `getblockchaininfo` until the node answers (retrying -28 "warming up")."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not alive():
            raise NodeUnavailable(f"node exited before answering RPC ({last})")
        client = RpcClient(url, timeout=5)
        try:
            client.call("getblockchaininfo")
            return
        except RpcError as e:
            if e.code != -28:
                raise
            last = e
        except OSError as e:
            last = e
        finally:
            client.close()
        time.sleep(0.1)
    raise NodeUnavailable(f"node did not answer RPC within {timeout:.0f}s ({last})")


def start_bitcoind(chain: str = "regtest") -> RunningNode:
    binary = find_bitcoind()
    if binary is None:
        raise NodeUnavailable("no bitcoind (set BITCOIND or put it on PATH)")
    datadir = tempfile.mkdtemp(prefix="lockedbtc-bitcoind-")
    rpc_port, password = free_port(), secrets.token_hex(16)
    argv = [binary, *bitcoind_args(datadir, rpc_port, free_port(), password, chain)]
    errlog = open(os.path.join(datadir, "stderr.log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errlog)
    errlog.close()
    url = f"http://{RPC_USER}:{password}@127.0.0.1:{rpc_port}"

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(datadir, ignore_errors=True)

    try:
        wait_for_rpc(url, alive=lambda: proc.poll() is None)
    except Exception:
        stop()
        raise
    return RunningNode("bitcoind", url, stop)


def docker_client() -> Any | None:
    """A docker SDK client when an engine answers, else None."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception as e:  # the SDK raises several kinds when no engine is reachable
        _logger.debug("no docker engine: %s", e)
        return None


def docker_command(password: str, chain: str = "regtest") -> list[str]:
    """bitcoind options inside the container: RPC on all container interfaces, published
    on the host's loopback only (see `start_docker`)."""
    args = bitcoind_args("/home/bitcoin/.bitcoin", 18443, 18444, password, chain)
    args = [a for a in args if not a.startswith(("-datadir", "-rpcbind", "-rpcallowip"))]
    return [*args, "-rpcbind=0.0.0.0", "-rpcallowip=0.0.0.0/0", "-printtoconsole=1"]


def start_docker(chain: str = "regtest") -> RunningNode:
    client = docker_client()
    if client is None:
        raise NodeUnavailable("no Docker engine answers (docker.from_env().ping() failed)")
    password = secrets.token_hex(16)
    container = client.containers.run(
        DOCKER_IMAGE, command=docker_command(password, chain), detach=True, remove=True,
        ports={"18443/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        host_port = int(container.ports["18443/tcp"][0]["HostPort"])
        url = f"http://{RPC_USER}:{password}@127.0.0.1:{host_port}"

        def running() -> bool:
            container.reload()
            return bool(container.status in ("created", "running"))

        wait_for_rpc(url, alive=running)
    except Exception:
        container.stop(timeout=5)
        raise
    return RunningNode("docker", url, lambda: container.stop(timeout=10))


def testnode_argv(chain: str = "regtest", extra_args: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "regtest", "serve", "--chain", chain, "--port", "0",
            *extra_args]


def start_testnode(chain: str = "regtest", extra_args: Sequence[str] = ()) -> RunningNode:
    """The project's test node, in its own process (`extra_args` go to `regtest serve`,
    e.g. `--blocks`); it prints `rpc=http://USER:PASS@127.0.0.1:P` first."""
    errlog = tempfile.TemporaryFile()  # noqa: SIM115  (read back only on failure)
    proc = subprocess.Popen(testnode_argv(chain, extra_args), stdout=subprocess.PIPE,
                            stderr=errlog,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("rpc="):
        proc.kill()
        proc.wait()
        errlog.seek(0)
        err = errlog.read().decode(errors="replace").strip()[-800:]
        errlog.close()
        raise NodeUnavailable(f"test node did not start: {line!r} {err}")
    url = line[len("rpc="):]
    # NOTE: keep draining stdout so a chatty node never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        errlog.close()

    try:
        wait_for_rpc(url, timeout=30, alive=lambda: proc.poll() is None)
    except Exception:
        stop()
        raise
    return RunningNode("testnode", url, stop)


def choose_kind() -> str:
    """The node kind `start_node` will use here (forced by LOCKEDBTC_NODE if set)."""
    forced = os.environ.get("LOCKEDBTC_NODE", "").strip()
    if forced:
        if forced not in KINDS:
            raise ValueError(f"LOCKEDBTC_NODE must be one of {', '.join(KINDS)}, not {forced!r}")
        return forced
    if find_bitcoind() is not None:
        return "bitcoind"
    if docker_client() is not None:
        return "docker"
    return "testnode"


def start_node(chain: str = "regtest", kind: str | None = None) -> RunningNode:
    """Start a fresh node of `kind` (default: `choose_kind()`)."""
    kind = kind or choose_kind()
    starters = {"bitcoind": start_bitcoind, "docker": start_docker, "testnode": start_testnode}
    _logger.info("starting a %s %s node", chain, kind)
    return starters[kind](chain)
