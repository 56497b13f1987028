"""The test node answers like Bitcoin Core v28 for everything the indexer uses.

Blocks come from `regtest.build.create_block`, so every block here is one a real
`bitcoind -regtest` would accept too.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from indexer.chain.block import hash256, parse_block
from regtest.build import (
    REGTEST_GENESIS_HASH,
    REGTEST_GENESIS_TIME,
    Transaction,
    TxInput,
    TxOutput,
    create_block,
)
from regtest.node import TestNode
from tests.conftest import shared_path

SPK = b"\x51"  # OP_TRUE: any script will do, scripts are not what is tested here
BABYLON_HASH = "00000000000000000002ed810ff436d5c72dec82602487b7512af5b5d6d23da6"
REPO = Path(__file__).resolve().parents[2]


# -- helpers -----------------------------------------------------------------------------------


class Client:
    """Plain http.client against the node, one keep-alive connection."""

    def __init__(self, url: str) -> None:
        u = urlsplit(url)
        assert u.hostname and u.port
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.auth = "Basic " + base64.b64encode(
            f"{u.username}:{u.password}".encode()).decode()

    def post(self, body: Any, auth: str | None = None) -> tuple[int, dict[str, str], bytes]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.conn.request("POST", "/", data, {"Authorization": auth or self.auth,
                                              "Content-Type": "application/json"})
        r = self.conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()

    def call(self, method: str, *params: Any) -> Any:
        status, _, body = self.post({"method": method, "params": list(params), "id": 1})
        reply = json.loads(body)
        assert status == 200, reply
        return reply["result"]

    def error(self, method: str, *params: Any) -> tuple[int, int, str]:
        """(HTTP status, code, message) of a call expected to fail (legacy JSON-RPC)."""
        status, _, body = self.post({"method": method, "params": list(params), "id": 1})
        reply = json.loads(body)
        assert reply["result"] is None
        return status, reply["error"]["code"], reply["error"]["message"]

    def get(self, path: str) -> tuple[int, str, bytes]:
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read()


class Miner:
    """Builds and submits regtest blocks on top of a given block."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def block(self, prev: str, height: int, tag: int = 0, **kw: Any) -> bytes:
        return create_block(prev, height, REGTEST_GENESIS_TIME + height * 600 + tag, [], SPK,
                            coinbase_extra=bytes([tag]), **kw)

    def extend(self, prev: str, height: int, n: int, tag: int = 0) -> list[str]:
        hashes = []
        for h in range(height, height + n):
            raw = self.block(prev, h, tag)
            assert self.client.call("submitblock", raw.hex()) is None
            prev = parse_block(raw).hash
            hashes.append(prev)
        return hashes


def regrind(raw: bytes, want_valid_pow: bool) -> bytes:
    """The same block with the first nonce whose hash meets (or misses) the regtest target."""
    for nonce in range(1 << 16):
        header = raw[:76] + nonce.to_bytes(4, "little")
        ok = parse_block(header + raw[80:]).header.check_pow()
        if ok == want_valid_pow:
            return header + raw[80:]
    raise AssertionError("no nonce found")


@pytest.fixture
def node() -> Iterator[TestNode]:
    with TestNode(chain="regtest", port=0) as n:
        yield n


@pytest.fixture
def client(node: TestNode) -> Client:
    return Client(node.url)


@pytest.fixture
def miner(client: Client) -> Miner:
    return Miner(client)


def _serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "regtest", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("rpc="):
        proc.kill()
        raise AssertionError(f"no rpc= line: {line!r} {proc.communicate()[1]}")
    return proc, line[4:]


# -- genesis and chain info --------------------------------------------------------------------


def test_starts_at_the_real_regtest_genesis(client: Client) -> None:
    assert client.call("getblockcount") == 0
    assert client.call("getbestblockhash") == REGTEST_GENESIS_HASH
    assert client.call("getblockhash", 0) == REGTEST_GENESIS_HASH
    raw = bytes.fromhex(client.call("getblock", REGTEST_GENESIS_HASH, 0))
    assert hash256(raw[:80])[::-1].hex() == REGTEST_GENESIS_HASH
    header = client.call("getblockheader", REGTEST_GENESIS_HASH)
    assert header["merkleroot"] == (
        "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")
    assert "previousblockhash" not in header


def test_getblockchaininfo_has_cores_fields(client: Client, miner: Miner) -> None:
    miner.extend(REGTEST_GENESIS_HASH, 1, 2)
    status, _, body = client.post({"method": "getblockchaininfo", "params": [], "id": "x"})
    assert status == 200
    text = body.decode()
    assert text.endswith("\n") and '"difficulty":4.656542373906925e-10' in text
    assert '"verificationprogress":1,' in text  # Core writes 1, not 1.0
    info = json.loads(text)["result"]
    assert list(info) == ["chain", "blocks", "headers", "bestblockhash", "difficulty", "time",
                          "mediantime", "verificationprogress", "initialblockdownload",
                          "chainwork", "size_on_disk", "pruned", "warnings"]
    assert info["chain"] == "regtest" and info["blocks"] == info["headers"] == 2
    assert info["chainwork"] == f"{6:064x}"  # regtest: 2 work per block, 3 blocks
    assert info["initialblockdownload"] is True  # 2011 timestamps: Core is still in IBD
    assert info["pruned"] is False and info["warnings"] == []


def test_getnetworkinfo_and_uptime(client: Client) -> None:
    status, _, body = client.post({"method": "getnetworkinfo", "id": 1})
    assert status == 200 and b'"relayfee":0.00001000' in body
    info = json.loads(body)["result"]
    assert info["version"] == 280000 and info["subversion"] == "/Satoshi:28.0.0/"
    assert isinstance(client.call("uptime"), int)


# -- blocks and headers ------------------------------------------------------------------------


def test_getblock_and_getblockheader_shapes(client: Client, miner: Miner) -> None:
    h1, h2 = miner.extend(REGTEST_GENESIS_HASH, 1, 2)
    block = client.call("getblock", h1)
    assert list(block) == ["hash", "confirmations", "height", "version", "versionHex",
                           "merkleroot", "time", "mediantime", "nonce", "bits", "difficulty",
                           "chainwork", "nTx", "previousblockhash", "nextblockhash",
                           "strippedsize", "size", "weight", "tx"]
    assert block["confirmations"] == 2 and block["nextblockhash"] == h2
    assert block["versionHex"] == "20000000" and block["bits"] == "207fffff"
    assert block["previousblockhash"] == REGTEST_GENESIS_HASH
    raw = bytes.fromhex(client.call("getblock", h1, 0))
    assert block["tx"] == [parse_block(raw).txs[0].txid] and block["size"] == len(raw)
    assert client.call("getblock", h1, False) == raw.hex()  # bool verbosity, as Core
    assert client.call("getblockheader", h1, False) == raw[:80].hex()
    tip = client.call("getblockheader", h2)
    assert tip["confirmations"] == 1 and "nextblockhash" not in tip


def test_block_errors(client: Client) -> None:
    assert client.error("getblockhash", 1) == (500, -8, "Block height out of range")
    assert client.error("getblockhash", -1) == (500, -8, "Block height out of range")
    assert client.error("getblock", "00" * 32) == (500, -5, "Block not found")
    assert client.error("getblockheader", "11" * 32) == (500, -5, "Block not found")
    assert client.error("getblock", "zz") == (
        500, -8, "blockhash must be of length 64 (not 2, for 'zz')")
    assert client.error("getblockheader", "g" * 64)[1:] == (
        -8, f"hash must be hexadecimal string (not '{'g' * 64}')")


def test_wrong_params_give_cores_errors(client: Client) -> None:
    status, code, message = client.error("getblockhash")
    assert (status, code) == (500, -1) and message.startswith("getblockhash height\n")
    status, code, message = client.error("getblockhash", "1")
    assert (status, code) == (500, -3)
    assert message == ('Wrong type passed:\n{\n    "Position 1 (height)": '
                       '"JSON value of type string is not of expected type number"\n}')
    assert client.error("getblockcount", 1)[1] == -1
    status, _, body = client.post({"method": "getblockhash", "params": {"height": 0}, "id": 1})
    assert json.loads(body)["result"] == REGTEST_GENESIS_HASH
    status, _, body = client.post({"method": "getblockhash", "params": {"heigth": 0}, "id": 1})
    assert json.loads(body)["error"] == {"code": -8, "message": "Unknown named parameter heigth"}


# -- JSON-RPC protocol -------------------------------------------------------------------------


def test_jsonrpc_versions_and_statuses(client: Client) -> None:
    status, headers, body = client.post({"method": "nope", "id": 7})
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"result": None,
                                "error": {"code": -32601, "message": "Method not found"},
                                "id": 7}
    status, _, body = client.post({"jsonrpc": "2.0", "method": "nope", "id": 7})
    assert status == 200
    assert json.loads(body) == {"jsonrpc": "2.0",
                                "error": {"code": -32601, "message": "Method not found"},
                                "id": 7}
    status, _, body = client.post({"jsonrpc": "2.0", "method": "getblockcount", "id": 8})
    assert (status, json.loads(body)) == (200, {"jsonrpc": "2.0", "result": 0, "id": 8})
    status, _, body = client.post({"jsonrpc": "2.0", "method": "getblockcount"})
    assert (status, body) == (204, b"")  # a 2.0 notification gets no reply
    status, _, body = client.post(b"{not json")
    assert status == 500
    assert json.loads(body)["error"] == {"code": -32700, "message": "Parse error"}
    status, _, body = client.post({"id": 1})
    assert status == 400
    assert json.loads(body)["error"] == {"code": -32600, "message": "Missing method"}


def test_batch(client: Client) -> None:
    status, _, body = client.post([
        {"method": "getblockhash", "params": [0], "id": 1},
        {"jsonrpc": "2.0", "method": "getblockhash", "params": [5], "id": 2},
        {"method": "nope", "id": 3},
    ])
    assert status == 200
    assert json.loads(body) == [
        {"result": REGTEST_GENESIS_HASH, "error": None, "id": 1},
        {"jsonrpc": "2.0", "error": {"code": -8, "message": "Block height out of range"},
         "id": 2},
        {"result": None, "error": {"code": -32601, "message": "Method not found"}, "id": 3},
    ]
    assert client.post([])[0::2] == (200, b"[]\n")


def test_auth_failure_and_methods(node: TestNode, client: Client) -> None:
    wrong = "Basic " + base64.b64encode(b"user:wrong").decode()
    status, headers, body = client.post({"method": "getblockcount"}, auth=wrong)
    assert (status, body) == (401, b"")
    assert headers["WWW-Authenticate"] == 'Basic realm="jsonrpc"'
    # The connection stays usable after a 401 (keep-alive), as with libevent.
    assert client.call("getblockcount") == 0
    assert client.get("/")[0] == 405
    assert client.get("/nothing")[0:3:2] == (404, b"")


def test_python_bitcoinrpc_works_against_it(node: TestNode, miner: Miner) -> None:
    from bitcoinrpc.authproxy import AuthServiceProxy, JSONRPCException

    proxy = AuthServiceProxy(node.url)
    miner.extend(REGTEST_GENESIS_HASH, 1, 1)
    assert proxy.getblockcount() == 1
    assert proxy.getblockhash(0) == REGTEST_GENESIS_HASH
    with pytest.raises(JSONRPCException) as err:
        proxy.getblockhash(9)
    assert err.value.code == -8
    # NOTE: Core 28 omits "error" from jsonrpc-2.0 replies, and python-bitcoinrpc 1.0's
    # batch_ (which sends 2.0) reads response['error']: it fails the same way against Core
    # (jgarzik/python-bitcoinrpc#112). Batch through legacy 1.0 entries instead.
    with pytest.raises(KeyError):
        proxy.batch_([["getblockhash", 0], ["getblockcount"]])
    status, _, body = Client(node.url).post([{"method": "getblockhash", "params": [0], "id": 1},
                                             {"method": "getblockcount", "id": 2}])
    assert status == 200
    assert [r["result"] for r in json.loads(body)] == [REGTEST_GENESIS_HASH, 1]


# -- submitblock and validation ----------------------------------------------------------------


def test_submitblock_results(client: Client, miner: Miner) -> None:
    raw = miner.block(REGTEST_GENESIS_HASH, 1)
    assert client.call("submitblock", raw.hex()) is None
    assert client.call("submitblock", raw.hex()) == "duplicate"
    assert client.call("submitblock", raw.hex() + "00") == "duplicate"  # trailing bytes ignored
    assert client.error("submitblock", "zz") == (500, -22, "Block decode failed")
    assert client.error("submitblock", raw[:100].hex())[1:] == (-22, "Block decode failed")
    # A side block with the same work as the tip: stored, not connected.
    side = miner.block(REGTEST_GENESIS_HASH, 1, tag=1)
    assert client.call("submitblock", side.hex()) == "inconclusive"
    assert client.call("getblockheader", parse_block(side).hash)["confirmations"] == -1


def test_rejects_invalid_blocks(client: Client, miner: Miner) -> None:
    good = miner.block(REGTEST_GENESIS_HASH, 1)
    bad_merkle = regrind(good[:36] + bytes([good[36] ^ 1]) + good[37:], want_valid_pow=True)
    assert client.call("submitblock", bad_merkle.hex()) == "bad-txnmrklroot"
    assert client.call("submitblock", regrind(good, want_valid_pow=False).hex()) == "high-hash"
    wrong_height = miner.block(REGTEST_GENESIS_HASH, 2)
    assert client.call("submitblock", wrong_height.hex()) == "bad-cb-height"
    assert client.call("submitblock", wrong_height.hex()) == "duplicate-invalid"
    orphan = miner.block("ab" * 32, 1)
    assert client.call("submitblock", orphan.hex()) == "prev-blk-not-found"
    too_old = create_block(REGTEST_GENESIS_HASH, 1, REGTEST_GENESIS_TIME, [], SPK)
    assert client.call("submitblock", too_old.hex()) == "time-too-old"
    bad_bits = create_block(REGTEST_GENESIS_HASH, 1, REGTEST_GENESIS_TIME + 600, [], SPK,
                            bits=0x207FFFFE)
    assert client.call("submitblock", bad_bits.hex()) == "bad-diffbits"
    assert client.call("getblockcount") == 0


def test_witness_commitment_is_checked(client: Client) -> None:
    # Scripts are not validated, so a segwit spend of a made-up output is enough here.
    tx = Transaction([TxInput("11" * 32, 0, witness=[b"\x01" * 20])], [TxOutput(1000, SPK)])
    raw_tx = tx.serialize()
    good = create_block(REGTEST_GENESIS_HASH, 1, REGTEST_GENESIS_TIME + 600, [raw_tx], SPK)
    tampered = good[:-24] + b"\x02" + good[-23:]  # one witness byte: same txid, other wtxid
    assert parse_block(tampered).hash == parse_block(good).hash
    assert client.call("submitblock", tampered.hex()) == "bad-witness-merkle-match"
    # Core keeps the header but not the data, and takes the right block afterwards.
    assert client.call("getblockheader", parse_block(good).hash)["confirmations"] == -1
    assert client.call("submitblock", good.hex()) is None
    assert client.call("getblock", parse_block(good).hash)["tx"][1] == tx.txid()


# -- reorgs ------------------------------------------------------------------------------------


def test_reorg_to_a_heavier_side_chain(client: Client, miner: Miner) -> None:
    a1, a2 = miner.extend(REGTEST_GENESIS_HASH, 1, 2)
    b1 = parse_block(miner.block(REGTEST_GENESIS_HASH, 1, tag=9)).hash
    assert client.call("submitblock", miner.block(REGTEST_GENESIS_HASH, 1, tag=9).hex()) == (
        "inconclusive")
    b2 = miner.block(b1, 2, tag=9)
    assert client.call("submitblock", b2.hex()) == "inconclusive"  # equal work: first seen
    b3 = miner.block(parse_block(b2).hash, 3, tag=9)
    assert client.call("submitblock", b3.hex()) is None
    assert client.call("getblockhash", 1) == b1
    assert client.call("getbestblockhash") == parse_block(b3).hash
    assert client.call("getblockheader", a2)["confirmations"] == -1
    assert client.call("getblock", a1)["confirmations"] == -1


def test_invalidate_and_reconsider(client: Client, miner: Miner) -> None:
    h1, h2, h3 = miner.extend(REGTEST_GENESIS_HASH, 1, 3)
    assert client.call("invalidateblock", h2) is None
    assert client.call("getbestblockhash") == h1
    assert client.call("getblockheader", h3)["confirmations"] == -1
    # A block on top of an invalid one is refused.
    assert client.call("submitblock", miner.block(h3, 4).hex()) == "bad-prevblk"
    side = miner.extend(h1, 2, 1, tag=5)
    assert client.call("getbestblockhash") == side[0]
    assert client.call("reconsiderblock", h2) is None
    assert client.call("getbestblockhash") == h3
    assert client.error("invalidateblock", "00" * 32)[1:] == (-5, "Block not found")


# -- REST --------------------------------------------------------------------------------------


def test_rest_blocks_headers_and_heights(client: Client, miner: Miner) -> None:
    h1, h2 = miner.extend(REGTEST_GENESIS_HASH, 1, 2)
    raw = bytes.fromhex(client.call("getblock", h1, 0))
    assert client.get(f"/rest/block/{h1}.bin") == (200, "application/octet-stream", raw)
    assert client.get(f"/rest/block/{h1}.hex") == (200, "text/plain", raw.hex().encode() + b"\n")
    assert client.get(f"/rest/block/notxdetails/{h1}.bin")[2] == raw
    status, ctype, body = client.get(f"/rest/block/notxdetails/{h1}.json")
    assert (status, ctype, json.loads(body)["tx"]) == (200, "application/json",
                                                     [parse_block(raw).txs[0].txid])
    headers = client.get(f"/rest/headers/3/{REGTEST_GENESIS_HASH}.bin")[2]
    assert len(headers) == 240 and headers[80:160] == raw[:80]
    assert client.get(f"/rest/headers/{h1}.hex?count=5")[2] == (
        raw[:80].hex() + bytes.fromhex(client.call("getblockheader", h2, False)).hex() + "\n"
    ).encode()
    assert client.get("/rest/blockhashbyheight/2.hex")[2] == f"{h2}\n".encode()
    assert client.get("/rest/blockhashbyheight/2.bin")[2] == bytes.fromhex(h2)[::-1]
    assert json.loads(client.get("/rest/blockhashbyheight/0.json")[2]) == {
        "blockhash": REGTEST_GENESIS_HASH}
    status, ctype, body = client.get("/rest/chaininfo.json")
    assert status == 200 and json.loads(body)["blocks"] == 2


def test_rest_errors(client: Client) -> None:
    assert client.get("/rest/block/xyz.bin") == (400, "text/plain", b"Invalid hash: xyz\r\n")
    missing = "00" * 32
    assert client.get(f"/rest/block/{missing}.bin") == (
        404, "text/plain", f"{missing} not found\r\n".encode())
    assert client.get(f"/rest/block/{REGTEST_GENESIS_HASH}")[0:3:2] == (
        404, b"output format not found (available: .bin, .hex, .json)\r\n")
    assert client.get("/rest/blockhashbyheight/9.hex")[0:3:2] == (
        404, b"Block height out of range\r\n")
    assert client.get("/rest/blockhashbyheight/-1.hex")[0:3:2] == (400, b"Invalid height: -1\r\n")
    assert client.get(f"/rest/headers/0/{missing}.bin")[0:3:2] == (
        400, b"Header count is invalid or out of acceptable range (1-2000): 0\r\n")
    assert client.get(f"/rest/headers/{missing}.bin")[0:3:2] == (200, b"")  # unknown: none
    assert client.get("/rest/chaininfo.bin")[0:3:2] == (
        404, b"output format not found (available: json)\r\n")


def test_no_rest_answers_404_empty(tmp_path: Path) -> None:
    with TestNode(port=0, rest=False) as node:
        c = Client(node.url)
        assert c.get(f"/rest/block/{REGTEST_GENESIS_HASH}.bin") == (404, "", b"")
        assert c.call("getblockcount") == 0


# -- node states: warm-up, pruning, outage, cookie ---------------------------------------------


def test_warmup(node: TestNode, client: Client) -> None:
    node.set_warmup(True)
    assert client.error("getblockcount") == (500, -28, "Loading block index…")
    assert client.error("nope")[1] == -28  # warm-up comes before method lookup, as in Core
    assert client.get("/rest/chaininfo.json")[0:3:2] == (
        503, "Service temporarily unavailable: Loading block index…\r\n".encode())
    node.set_warmup(False)
    assert client.call("getblockcount") == 0


def test_warmup_from_start() -> None:
    with TestNode(port=0, warmup=600) as node:
        assert Client(node.url).error("getblockchaininfo")[1:] == (-28, "Loading block index…")


def test_pruned_blocks(miner: Miner) -> None:
    with TestNode(port=0, prune_below=2) as node:
        c = Client(node.url)
        h1, h2 = Miner(c).extend(REGTEST_GENESIS_HASH, 1, 2)
        assert c.error("getblock", h1) == (500, -1, "Block not available (pruned data)")
        assert c.call("getblockheader", h1)["height"] == 1  # headers are kept
        assert c.call("getblock", h2)["height"] == 2
        assert c.get(f"/rest/block/{h1}.bin")[0:3:2] == (
            404, f"{h1} not available (pruned data)\r\n".encode())
        info = c.call("getblockchaininfo")
        assert (info["pruned"], info["pruneheight"], info["automatic_pruning"]) == (True, 2, False)


def test_outage_and_restart_on_the_same_port(node: TestNode, client: Client) -> None:
    port = node.port
    node.stop_serving()
    with pytest.raises(OSError):
        Client(node.url).call("getblockcount")
    node.start_serving()
    assert node.port == port
    assert Client(node.url).call("getblockcount") == 0


def test_cookie_auth(tmp_path: Path) -> None:
    with TestNode(port=0, datadir=tmp_path) as node:
        cookie = tmp_path / "regtest" / ".cookie"
        user, password = cookie.read_text().split(":")
        assert user == "__cookie__" and len(password) == 64
        assert node.url.startswith(f"http://__cookie__:{password}@")
        assert Client(node.url).call("getblockcount") == 0
    assert not cookie.exists()  # removed on shutdown, as Core does


# -- as a subprocess ---------------------------------------------------------------------------


def test_subprocess_serves_until_sigterm() -> None:
    proc, url = _serve("--chain", "regtest", "--port", "0")
    try:
        c = Client(url)
        assert c.call("getbestblockhash") == REGTEST_GENESIS_HASH
        assert Miner(c).extend(REGTEST_GENESIS_HASH, 1, 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_subprocess_serves_mainnet_block_864790() -> None:
    path = shared_path("babylon", "block-864790", "block.hex")
    raw = bytes.fromhex(path.read_text().strip())
    proc, url = _serve("--chain", "main", "--port", "0", "--start-height", "864790",
                       "--blocks", str(path))
    try:
        c = Client(url)
        assert c.call("getblockhash", 864790) == BABYLON_HASH
        assert c.call("getblockchaininfo")["chain"] == "main"
        assert c.get(f"/rest/block/{BABYLON_HASH}.bin") == (200, "application/octet-stream",
                                                            raw)
        block = c.call("getblock", BABYLON_HASH)
        assert block["height"] == 864790 and block["nTx"] == len(block["tx"]) == 5043
        assert c.error("getblockhash", 864789)[1] == -8
        assert c.call("stop") == "Bitcoin Core stopping"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
