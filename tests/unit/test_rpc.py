"""RPC client against an in-process fake of Bitcoin Core's HTTP server."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import quote

import pytest

from indexer.chain.node_errors import (
    BlockPruned,
    DeserializationError,
    InvalidAddressOrKey,
    InvalidParameter,
    InWarmup,
    MethodNotFound,
    MiscError,
    NodeAuthError,
    NodeUnreachable,
    RPCError,
    RPCTypeError,
    VerifyError,
    rpc_error,
)
from indexer.chain.retry import Backoff
from indexer.chain.rpc import RpcClient, parse_url
from indexer.errors import ConfigError, NodeError
from tests.unit.fake_core import FakeCore, FakeTime, free_port


@pytest.fixture
def core() -> Iterator[FakeCore]:
    fake = FakeCore()
    yield fake
    fake.stop()


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


def client(url: str, ft: FakeTime, budget: float = 10.0) -> RpcClient:
    endpoint, creds = parse_url(url)
    return RpcClient(endpoint, creds, timeout=5,
                     backoff=Backoff(budget=budget, sleep=ft.sleep, clock=ft.clock))


def test_call_with_credentials_from_the_url(core: FakeCore, ft: FakeTime) -> None:
    with client(core.url, ft) as rpc:
        assert rpc.call("getblockcount") == 4
        assert rpc.call("getblockhash", 2) == core.hashes[2]
        assert "s3cret" not in repr(rpc) and "s3cret" not in rpc.url


def test_floats_come_back_as_decimal(core: FakeCore, ft: FakeTime) -> None:
    with client(core.url, ft) as rpc:
        assert isinstance(rpc.call("getblockchaininfo")["difficulty"], Decimal)


def test_percent_encoded_password_is_decoded(ft: FakeTime) -> None:
    fake = FakeCore(password="p@ss:w/rd%")
    try:
        url = f"http://alice:{quote(fake.password, safe='')}@127.0.0.1:{fake.port}"
        with client(url, ft) as rpc:
            assert rpc.call("getblockcount") == 4
    finally:
        fake.stop()


def test_one_connection_is_kept_alive(core: FakeCore, ft: FakeTime) -> None:
    with client(core.url, ft) as rpc:
        for _ in range(5):
            rpc.call("getbestblockhash")
        rpc.batch([("getblockhash", [0]), ("getblockhash", [1])])
    assert core.connections == 1


def test_wrong_password_is_rejected_once_and_never_leaked(
        core: FakeCore, ft: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://alice:hunter2-WRONG@127.0.0.1:{core.port}"
    rpc = client(url, ft)
    with pytest.raises(NodeAuthError) as info:
        rpc.call("getblockchaininfo")
    exc = info.value
    assert "the node rejected the RPC credentials" in str(exc)
    assert "rpcpassword" in exc.hint and "cookie" in exc.hint
    for text in (str(exc), repr(exc), caplog.text, repr(rpc), exc.summary):
        assert "hunter2" not in text
    assert len(core.auth_headers) == 1  # 401 is not retried
    assert ft.sleeps == []
    assert exc.exit_code == 2


def test_connection_refused_retries_with_backoff_then_gives_up(
        ft: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    rpc = client(f"http://alice:topsecret@127.0.0.1:{port}", ft, budget=10)
    with pytest.raises(NodeUnreachable) as info:
        rpc.call("getblockchaininfo")
    assert str(info.value).startswith(
        f"cannot reach the Bitcoin node at http://127.0.0.1:{port} (connection refused)")
    assert info.value.hint
    # 0.25 doubling, capped at 5 s, the last delay cut so the total is the 10 s budget.
    assert ft.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0, 2.25]
    assert sum(ft.sleeps) == pytest.approx(10.0)
    assert "topsecret" not in str(info.value) + repr(info.value) + caplog.text


def test_silent_node_times_out(ft: FakeTime) -> None:
    # Accepts TCP connections (kernel backlog) but never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        endpoint, creds = parse_url(f"http://alice:pw@127.0.0.1:{port}")
        rpc = RpcClient(endpoint, creds, timeout=0.05,
                        backoff=Backoff(budget=0.3, sleep=ft.sleep, clock=ft.clock))
        with pytest.raises(NodeUnreachable) as info:
            rpc.call("getblockcount")
    assert "(timed out)" in str(info.value)
    assert ft.sleeps == pytest.approx([0.25, 0.05])


def test_warmup_is_retried_until_the_node_is_ready(core: FakeCore, ft: FakeTime) -> None:
    core.warmup_calls = 3
    with client(core.url, ft) as rpc:
        assert rpc.call("getblockcount") == 4
    assert ft.sleeps == [0.25, 0.5, 1.0]


def test_warmup_beyond_the_budget_raises_in_warmup(core: FakeCore, ft: FakeTime) -> None:
    core.warmup_calls = 10_000
    with client(core.url, ft, budget=3) as rpc, pytest.raises(InWarmup) as info:
        rpc.call("getblockcount")
    assert info.value.code == -28
    assert "Loading block index" in info.value.message
    assert isinstance(info.value, NodeError)


def test_busy_node_503_is_retried(core: FakeCore, ft: FakeTime) -> None:
    core.busy_calls = 2
    with client(core.url, ft) as rpc:
        assert rpc.call("getblockcount") == 4
    assert ft.sleeps == [0.25, 0.5]


def test_dropped_keepalive_connection_reconnects_at_once(core: FakeCore, ft: FakeTime) -> None:
    with client(core.url, ft) as rpc:
        assert rpc.call("getblockcount") == 4
        core.drop_next = 1
        assert rpc.call("getblockcount") == 4
    assert ft.sleeps == []
    assert core.connections == 2


@pytest.mark.parametrize(("method", "params", "cls", "code"), [
    ("getblockhash", [99], InvalidParameter, -8),
    ("getblock", ["00" * 32, 0], InvalidAddressOrKey, -5),
    ("getblockhash", ["one"], RPCTypeError, -3),
    ("nosuchmethod", [], MethodNotFound, -32601),
])
def test_rpc_errors_map_to_classes(core: FakeCore, ft: FakeTime, method: str,
                                   params: list[object], cls: type[RPCError], code: int) -> None:
    with client(core.url, ft) as rpc:
        with pytest.raises(cls) as info:
            rpc.call(method, *params)
        assert info.value.code == code
        assert info.value.method == method
        assert f"RPC error {code}" in str(info.value)
        # The connection stays usable after an HTTP 500/404 error reply.
        assert rpc.call("getblockcount") == 4
    assert ft.sleeps == []


def test_pruned_block_is_its_own_class(core: FakeCore, ft: FakeTime) -> None:
    core.pruned.add(core.hashes[1])
    with client(core.url, ft) as rpc, pytest.raises(BlockPruned) as info:
        rpc.call("getblock", core.hashes[1], 0)
    assert isinstance(info.value, MiscError) and info.value.code == -1


def test_registry_by_code() -> None:
    assert type(rpc_error(-25, "bad-txns")) is VerifyError
    assert type(rpc_error(-22, "TX decode failed")) is DeserializationError
    assert type(rpc_error(-1, "something else")) is MiscError
    unknown = rpc_error(-99999, "new in Core 99")
    assert type(unknown) is RPCError and unknown.code == -99999


def test_batch_returns_results_in_call_order_in_one_request(core: FakeCore,
                                                            ft: FakeTime) -> None:
    with client(core.url, ft) as rpc:
        got = rpc.batch([("getblockhash", [h]) for h in (3, 0, 2)])
    assert got == [core.hashes[3], core.hashes[0], core.hashes[2]]
    assert core.calls == [["getblockhash"] * 3]


def test_batch_raises_the_first_failing_call_with_its_index(core: FakeCore,
                                                            ft: FakeTime) -> None:
    with client(core.url, ft) as rpc:
        with pytest.raises(InvalidParameter) as info:
            rpc.batch([("getblockhash", [0]), ("getblockhash", [99]),
                       ("getblock", ["00" * 32, 0])])
        assert info.value.batch_index == 1
        assert info.value.message == "Block height out of range"
        assert rpc.batch([]) == []


def test_batch_reads_jsonrpc2_replies(core: FakeCore, ft: FakeTime) -> None:
    # Core >= 28 omits "error" from 2.0 success replies (python-bitcoinrpc's batch_
    # raises KeyError on them).
    core.force_v2 = True
    with client(core.url, ft) as rpc:
        assert rpc.batch([("getblockhash", [0]), ("getblockhash", [1])]) == core.hashes[:2]
        with pytest.raises(InvalidParameter):
            rpc.batch([("getblockhash", [7])])


def test_batch_warmup_is_retried(core: FakeCore, ft: FakeTime) -> None:
    core.warmup_calls = 1
    with client(core.url, ft) as rpc:
        assert rpc.batch([("getblockhash", [0]), ("getblockhash", [1])]) == core.hashes[:2]
    assert ft.sleeps == [0.25]


def test_bad_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        parse_url("http://alice:pw-in-url@127.0.0.1:notaport")
    assert "pw-in-url" not in str(info.value)
    with pytest.raises(ConfigError):
        parse_url("ftp://127.0.0.1:8332")
