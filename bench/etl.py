"""bitcoin-etl on the benchmark chain: install it in its own venv, serve it what it asks.

bitcoin-etl's `export_blocks_and_transactions` reads blocks with `getblock <hash> 2`. The
test node serves verbosity 0 and 1 only (the indexer never uses 2), so this module runs a
small JSON-RPC proxy in front of it that answers `getblock … 2` with Core-shaped JSON
(txid, hash, size, vsize, weight, version, locktime, vin with scriptSig/txinwitness,
vout with value/n/scriptPubKey{asm,hex,type,address}) and forwards everything else.
The per-transaction JSON is rendered once and cached, so the proxy answers at memory speed:
the rate measured is bitcoin-etl's own client-side cost, an upper bound of what it reaches
against a real bitcoind (where Core's verbose JSON costs the node 20-60x a raw block).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
import venv
from base64 import b64encode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from indexer.chain.block import Tx, parse_block

_OPS = {0x00: "0", 0x4f: "-1", 0x61: "OP_NOP", 0x69: "OP_VERIFY", 0x6a: "OP_RETURN",
        0x75: "OP_DROP", 0x76: "OP_DUP", 0x87: "OP_EQUAL", 0x88: "OP_EQUALVERIFY",
        0xa9: "OP_HASH160", 0xac: "OP_CHECKSIG", 0xad: "OP_CHECKSIGVERIFY",
        0xae: "OP_CHECKMULTISIG", 0xb1: "OP_CHECKLOCKTIMEVERIFY",
        0xb2: "OP_CHECKSEQUENCEVERIFY", 0xba: "OP_CHECKSIGADD", 0x9c: "OP_NUMEQUAL"}


def asm(script: bytes) -> str:
    """Core-like disassembly (pushes as hex, small ints as numbers, known opcode names)."""
    out, i = [], 0
    while i < len(script):
        op = script[i]
        i += 1
        if 1 <= op <= 0x4e:
            n = op
            if op >= 0x4c:
                size = {0x4c: 1, 0x4d: 2, 0x4e: 4}[op]
                n = int.from_bytes(script[i:i + size], "little")
                i += size
            out.append(script[i:i + n].hex())
            i += n
        elif 0x51 <= op <= 0x60:
            out.append(str(op - 0x50))
        else:
            out.append(_OPS.get(op, f"OP_UNKNOWN{op}"))
    return " ".join(out)


def _spk_type(s: bytes) -> str:
    if len(s) == 22 and s[:2] == b"\x00\x14":
        return "witness_v0_keyhash"
    if len(s) == 34 and s[:2] == b"\x00\x20":
        return "witness_v0_scripthash"
    if len(s) == 34 and s[:2] == b"\x51\x20":
        return "witness_v1_taproot"
    if len(s) == 25 and s[:3] == b"\x76\xa9\x14":
        return "pubkeyhash"
    if len(s) == 23 and s[:2] == b"\xa9\x14":
        return "scripthash"
    if s[:1] == b"\x6a":
        return "nulldata"
    return "nonstandard"


def tx_json(tx: Tx) -> dict[str, Any]:
    from adapters.powpeg.addresses import address_of

    vin: list[dict[str, Any]] = []
    for i, txin in enumerate(tx.inputs):
        item: dict[str, Any]
        if tx.is_coinbase:
            item = {"coinbase": txin.script_sig.hex()}
        else:
            item = {"txid": txin.prev_txid_hex, "vout": txin.prev_vout,
                    "scriptSig": {"asm": asm(txin.script_sig), "hex": txin.script_sig.hex()}}
        if tx.has_witness:
            item["txinwitness"] = [w.hex() for w in tx.witness(i)]
        item["sequence"] = txin.sequence
        vin.append(item)
    vout = []
    for n, out in enumerate(tx.outputs):
        spk: dict[str, Any] = {"asm": asm(out.script_pubkey), "hex": out.script_pubkey.hex(),
                               "type": _spk_type(out.script_pubkey)}
        addr = address_of(out.script_pubkey, "main")
        if addr:
            spk["address"] = addr
        vout.append({"value": out.value / 1e8, "n": n, "scriptPubKey": spk})
    return {"txid": tx.txid, "hash": tx.wtxid, "version": tx.version, "size": tx.size,
            "vsize": tx.vsize, "weight": tx.vsize * 4, "locktime": tx.locktime,
            "vin": vin, "vout": vout, "hex": tx.raw.hex()}


class VerboseCache:
    """getblock-2 JSON per block hash, built from raw blocks; repeated txs render once."""

    def __init__(self) -> None:
        self._tx: dict[bytes, str] = {}
        self._blocks: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def add(self, raw: bytes, height: int) -> None:
        block = parse_block(raw)
        parts = []
        for tx in block.txs:
            key = tx.raw
            js = self._tx.get(key)
            if js is None:
                js = json.dumps(tx_json(tx))
                if not tx.is_coinbase:
                    self._tx[key] = js
            parts.append(js)
        head = {"hash": block.hash, "confirmations": 1, "height": height,
                "version": block.header.version, "merkleroot": block.header.merkle_root,
                "time": block.time, "mediantime": block.time, "nonce": block.header.nonce,
                "bits": f"{block.header.bits:08x}", "difficulty": 4.6e-10,
                "nTx": len(block.txs), "previousblockhash": block.prev_hash,
                "size": len(raw), "strippedsize": len(raw), "weight": len(raw) * 4}
        body = json.dumps(head)[:-1] + ', "tx": [' + ", ".join(parts) + "]}"
        with self._lock:
            self._blocks[block.hash] = body.encode()

    def get(self, block_hash: str) -> bytes | None:
        return self._blocks.get(block_hash)


def start_proxy(node_url: str, cache: VerboseCache) -> tuple[ThreadingHTTPServer, str]:
    """A JSON-RPC proxy on a free port: getblock verbosity 2 from `cache`, the rest to the
    node. Returns the server and its URL (same credentials as the node's)."""
    from indexer.chain.rpc import parse_url

    endpoint, creds = parse_url(node_url)
    auth = "Basic " + b64encode(f"{creds[0]}:{creds[1]}".encode()).decode() if creds else ""

    def forward(body: bytes) -> bytes:
        req = urllib.request.Request(f"http://{endpoint.host}:{endpoint.port}/", data=body,
                                     headers={"Authorization": auth,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            data: bytes = resp.read()
            return data

    def answer(call: dict[str, Any]) -> bytes:
        params = call.get("params") or []
        if call.get("method") == "getblock" and len(params) > 1 and params[1] == 2:
            js = cache.get(params[0])
            if js is not None:
                return (b'{"result": ' + js + b', "error": null, "id": '
                        + json.dumps(call.get("id")).encode() + b"}")
        return forward(json.dumps(call).encode())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            req = json.loads(body)
            if isinstance(req, list):
                out = b"[" + b", ".join(answer(c) for c in req) + b"]"
            else:
                out = answer(req)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    user = f"{creds[0]}:{creds[1]}@" if creds else ""
    return server, f"http://{user}127.0.0.1:{server.server_address[1]}"


def install(cache: Path, *, allow_install: bool = True) -> tuple[Path | None, str]:
    """The `bitcoinetl` executable in a venv under `cache` (installed from PyPI with pip on
    first use), or (None, why not)."""
    env = cache / "bitcoin-etl-venv"
    exe = env / "bin" / "bitcoinetl"
    if exe.exists():
        return exe, "cached"
    if not allow_install:
        return None, f"bitcoin-etl is not installed in {env} (quick runs do not install it)"
    try:
        venv.create(env, with_pip=True)
        res = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q",
                              "bitcoin-etl"], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"cannot create the venv or run pip: {exc}"
    if res.returncode != 0 or not exe.exists():
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        return None, (f"`pip install bitcoin-etl` failed on Python "
                      f"{sys.version_info.major}.{sys.version_info.minor}: {' | '.join(tail)}")
    return exe, "installed"


def version(exe: Path) -> str:
    res = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    return (res.stdout or res.stderr).strip()


def export(exe: Path, url: str, start: int, end: int, out: Path, batch: int = 2,
           workers: int = 2) -> None:
    """Run `bitcoinetl export_blocks_and_transactions` over start..end into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(exe), "export_blocks_and_transactions", "--start-block", str(start),
                    "--end-block", str(end), "--provider-uri", url, "--chain", "bitcoin",
                    "--batch-size", str(batch), "--max-workers", str(workers),
                    "--blocks-output", str(out / "blocks.json"),
                    "--transactions-output", str(out / "transactions.json")],
                   check=True, capture_output=True, text=True)
