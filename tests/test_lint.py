"""The code stays `ruff` and `mypy --strict` clean (both are in the dev extra)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    if shutil.which("ruff") is None and _run(sys.executable, "-m", "ruff", "--version").returncode:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    res = _run(sys.executable, "-m", "ruff", "check", "indexer", "adapters", "regtest",
               "tests", "bench")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_strict_is_clean() -> None:
    if _run(sys.executable, "-m", "mypy", "--version").returncode:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    res = _run(sys.executable, "-m", "mypy")
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
