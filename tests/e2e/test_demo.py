"""`lockedbtc demo` from an empty folder: a node, every scenario, a fresh SQLite file and
the locked table, with every protocol holding BTC (each scenario leaves some locked)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.e2e.cli import LOCKEDBTC

PROTOCOLS = {"babylon", "stacks", "powpeg", "coredao"}


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOCKEDBTC, "demo", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "LOCKEDBTC_NODE": "testnode"})


def test_demo_json_is_the_locked_object_with_every_protocol(tmp_path: Path) -> None:
    res = _demo(tmp_path, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["chain"] == "regtest" and report["height"] > 100
    lines = {p["protocol"]: p for p in report["protocols"]}
    assert set(lines) == PROTOCOLS
    assert all(lines[p]["locked_sat"] > 0 for p in PROTOCOLS), lines
    assert report["total_sat"] == sum(p["locked_sat"] for p in lines.values())
    assert (tmp_path / "lockedbtc-demo.sqlite3").exists()


def test_demo_table_names_every_protocol_and_the_sbtc_peg(tmp_path: Path) -> None:
    res = _demo(tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "Locked BTC on regtest" in out
    for p in PROTOCOLS:
        assert f"\n{p} " in out
    assert "stacks sBTC: peg UTXO" in out and "stacks PoX: reward cycle" in out
    assert "babylon:" in out and "stakers" in out
