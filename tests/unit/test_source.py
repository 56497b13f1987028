"""The block source: connecting (URL, cookie, default-port probe), chain detection, and
fetching hashes and raw blocks over REST or batched RPC, against a fake Core."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from indexer.chain.cookie import ChainInfo, cookie_path
from indexer.chain.node_errors import BlockUnavailable, NodeAuthError, NodeUnreachable
from indexer.chain.source import NodeSource, connect
from indexer.errors import ConfigError
from tests.unit.fake_core import FakeCore, FakeTime, free_port

COOKIE_PW = "9f3c" * 16


@pytest.fixture
def core() -> Iterator[FakeCore]:
    fake = FakeCore()
    yield fake
    fake.stop()


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


def open_source(url: str | None, ft: FakeTime, **kw: Any) -> NodeSource:
    kw.setdefault("retry_seconds", 5.0)
    return connect(url, sleep=ft.sleep, clock=ft.clock, timeout=5, **kw)


def as_cookie_node(core: FakeCore, datadir: Path, chain: str = "regtest") -> Path:
    core.user, core.password = "__cookie__", COOKIE_PW
    sub = {"main": "", "test": "testnet3"}.get(chain, chain)
    path = (datadir / sub / ".cookie") if sub else datadir / ".cookie"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"__cookie__:{COOKIE_PW}")
    return path


# --- chain and tip ------------------------------------------------------------------------


def test_chain_and_tip_are_read_from_the_node(core: FakeCore, ft: FakeTime) -> None:
    core.chain = "signet"
    with open_source(core.url, ft) as src:
        assert src.chain == "signet"
        assert src.tip() == (4, core.hashes[4])
        assert src.best_block_hash() == core.hashes[4]
        assert src.header(core.hashes[2])["height"] == 2
        assert "s3cret" not in repr(src)


def test_unknown_chain_is_a_config_error(core: FakeCore, ft: FakeTime) -> None:
    core.chain = "liquidv1"
    with pytest.raises(ConfigError) as info:
        open_source(core.url, ft)
    assert "'liquidv1'" in str(info.value) and "regtest" in str(info.value)


# --- RPC only (rest=0) --------------------------------------------------------------------


def test_without_rest_blocks_come_from_one_batched_getblock(core: FakeCore,
                                                           ft: FakeTime) -> None:
    with open_source(core.url, ft) as src:
        assert not src.uses_rest
        core.calls.clear()
        hashes = src.block_hashes([1, 2, 3])
        assert hashes == core.hashes[1:4]
        assert src.raw_blocks(hashes) == core.blocks[1:4]
    assert core.calls == [["getblockhash"] * 3, ["getblock"] * 3]
    assert core.rest_paths == ["/rest/chaininfo.json"]  # detected once, bare 404


def test_block_hash_above_the_tip_is_none(core: FakeCore, ft: FakeTime) -> None:
    for use_rest in (False, True):
        core.rest = use_rest
        with open_source(core.url, ft) as src:
            assert src.uses_rest is use_rest
            assert src.block_hash(4) == core.hashes[4]
            assert src.block_hash(5) is None


def test_pruned_block_over_rpc_says_height_hash_and_fix(core: FakeCore, ft: FakeTime) -> None:
    core.pruned.add(core.hashes[2])
    with open_source(core.url, ft) as src, pytest.raises(BlockUnavailable) as info:
        src.raw_blocks(core.hashes[1:4])
    msg = str(info.value)
    assert msg.startswith(f"block 2 ({core.hashes[2]}) is not available on the node (pruned?)")
    assert "prune" in info.value.hint
    assert info.value.height == 2


def test_unknown_block_hash_is_unavailable(core: FakeCore, ft: FakeTime) -> None:
    with open_source(core.url, ft) as src, pytest.raises(BlockUnavailable) as info:
        src.raw_blocks(["11" * 32])
    assert info.value.height is None and "Block not found" in str(info.value)


# --- REST (rest=1) ------------------------------------------------------------------------


def test_with_rest_blocks_come_from_rest(core: FakeCore, ft: FakeTime) -> None:
    core.rest = True
    with open_source(core.url, ft) as src:
        assert src.uses_rest
        core.calls.clear()
        assert src.raw_blocks(core.hashes[0:3]) == core.blocks[0:3]
    assert core.calls == []  # no getblock over RPC
    assert [p for p in core.rest_paths if p.startswith("/rest/block/")] == [
        f"/rest/block/{h}.bin" for h in core.hashes[0:3]]


def test_use_rest_false_forces_rpc(core: FakeCore, ft: FakeTime) -> None:
    core.rest = True
    with open_source(core.url, ft, use_rest=False) as src:
        assert not src.uses_rest
    assert core.rest_paths == []


def test_pruned_block_over_rest(core: FakeCore, ft: FakeTime) -> None:
    core.rest = True
    core.pruned.add(core.hashes[3])
    with open_source(core.url, ft) as src, pytest.raises(BlockUnavailable) as info:
        src.raw_blocks([core.hashes[3]])
    assert str(info.value).startswith(f"block 3 ({core.hashes[3]}) is not available")
    assert "pruned data" in str(info.value)


def test_rest_headers(core: FakeCore, ft: FakeTime) -> None:
    core.rest = True
    with open_source(core.url, ft) as src:
        assert src._rest is not None
        headers = src._rest.headers(core.hashes[1], 3)
    assert headers == [b[:80] for b in core.blocks[1:4]]


# --- credentials --------------------------------------------------------------------------


def test_cookie_from_datadir(core: FakeCore, ft: FakeTime, tmp_path: Path,
                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    as_cookie_node(core, tmp_path, "regtest")
    with open_source(core.bare_url, ft, datadir=tmp_path) as src:
        assert src.chain == "regtest"
        assert COOKIE_PW not in repr(src) + repr(src.rpc)
    assert COOKIE_PW not in caplog.text


def test_explicit_cookie_file(core: FakeCore, ft: FakeTime, tmp_path: Path) -> None:
    path = as_cookie_node(core, tmp_path / "elsewhere", "main")
    with open_source(core.bare_url, ft, cookie_file=path) as src:
        assert src.tip()[0] == 4


def test_stale_cookie_of_another_chain_is_skipped(core: FakeCore, ft: FakeTime,
                                                  tmp_path: Path) -> None:
    as_cookie_node(core, tmp_path, "signet")
    (tmp_path / ".cookie").write_text("__cookie__:" + "00" * 32)  # mainnet's, stale
    with open_source(core.bare_url, ft, datadir=tmp_path) as src:
        assert src.tip()[0] == 4


def test_rejected_cookie_names_the_file_not_its_content(
        core: FakeCore, ft: FakeTime, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / ".cookie"
    path.write_text("__cookie__:" + "ab" * 32)
    with pytest.raises(NodeAuthError) as info:
        open_source(core.bare_url, ft, cookie_file=path)
    assert str(path) in str(info.value)
    assert "ab" * 32 not in str(info.value) + repr(info.value) + caplog.text


def test_no_credentials_anywhere(core: FakeCore, ft: FakeTime, tmp_path: Path) -> None:
    with pytest.raises(NodeAuthError) as info:
        open_source(core.bare_url, ft, datadir=tmp_path)
    assert str(tmp_path) in str(info.value)


def test_missing_explicit_cookie_file(core: FakeCore, ft: FakeTime, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        open_source(core.bare_url, ft, cookie_file=tmp_path / "nope")
    assert "does not exist" in str(info.value)


def test_cookie_layout_matches_core(tmp_path: Path) -> None:
    def path(name: str, sub: str, port: int) -> Path:
        return cookie_path(ChainInfo(name, sub, port), tmp_path)
    assert path("main", "", 8332) == tmp_path / ".cookie"
    assert path("test", "testnet3", 18332) == tmp_path / "testnet3" / ".cookie"
    assert path("regtest", "regtest", 18443) == tmp_path / "regtest" / ".cookie"


# --- no URL: probing the default ports ----------------------------------------------------


def test_probe_uses_the_first_port_that_answers(core: FakeCore, ft: FakeTime,
                                                tmp_path: Path) -> None:
    as_cookie_node(core, tmp_path, "regtest")
    candidates = [ChainInfo("main", "", free_port()), ChainInfo("regtest", "regtest", core.port)]
    with open_source(None, ft, datadir=tmp_path, candidates=candidates) as src:
        assert src.chain == "regtest"
        assert src.url == f"http://127.0.0.1:{core.port}"
    assert ft.sleeps == []


def test_probe_with_nothing_listening_names_what_was_tried(ft: FakeTime,
                                                          tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    candidates = [ChainInfo("main", "", ports[0]), ChainInfo("signet", "signet", ports[1])]
    with pytest.raises(NodeUnreachable) as info:
        open_source(None, ft, datadir=tmp_path, candidates=candidates, retry_seconds=2)
    msg = str(info.value)
    assert msg.startswith("cannot reach the Bitcoin node at http://127.0.0.1 (")
    assert f"{ports[0]} (main): connection refused" in msg
    assert f"{ports[1]} (signet): connection refused" in msg
    assert ft.sleeps == [0.25, 0.5, 1.0, 0.25]


def test_unreachable_explicit_url(ft: FakeTime) -> None:
    port = free_port()
    with pytest.raises(NodeUnreachable) as info:
        open_source(f"http://u:pw-xyz@127.0.0.1:{port}", ft, retry_seconds=1)
    assert f"http://127.0.0.1:{port} (connection refused)" in str(info.value)
    assert "pw-xyz" not in str(info.value)


def test_rest_warmup_is_retried(core: FakeCore, ft: FakeTime) -> None:
    core.rest = True
    with open_source(core.url, ft) as src:
        core.warmup_calls = 2
        assert src.raw_blocks([core.hashes[0]]) == core.blocks[:1]
    assert ft.sleeps == [0.25, 0.5]


# --- txindex --------------------------------------------------------------------------------


def test_a_node_without_getindexinfo_has_no_txindex(core: FakeCore, ft: FakeTime) -> None:
    with open_source(core.url, ft) as src:
        assert src.has_txindex() is False
        assert src.has_txindex() is False
        # Asked once; with no index, lookups cost no request and tell nothing.
        assert core.calls.count("getindexinfo") == 1
        before = len(core.calls)
        assert src.outputs_and_heights([("11" * 32, 0)]) == [None]
        assert len(core.calls) == before
