"""The code stays `ruff` and `mypy --strict` clean (both are in the dev extra)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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


def test_compiled_walk_builds_without_warnings() -> None:
    """`_outline.c` (and the SHA-256 it includes) compiles warning-free as C99 with the
    warnings most likely to hide a bug turned into errors."""
    import sysconfig

    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    include = sysconfig.get_paths()["include"]
    if cc is None or not (REPO / "indexer" / "chain" / "_outline.c").exists():
        pytest.skip("no C compiler on this machine")
    if not (Path(include) / "Python.h").exists():
        pytest.skip(f"no Python headers in {include}")
    res = _run(cc, "-fsyntax-only", "-std=c99", "-Wall", "-Wextra", "-Wshadow",
               "-Wstrict-prototypes", "-Werror", f"-I{include}",
               "indexer/chain/_outline.c")
    assert res.returncode == 0, res.stdout + res.stderr
