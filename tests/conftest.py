"""Shared fixtures: the real vectors in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LOCKEDBTC_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; skips the calling test when it is not there."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared test data not found at {p} (set LOCKEDBTC_SHARED_DATA or "
                    "check out the project beside ../shared)")
    return p


def load_json(*parts: str) -> Any:
    return json.loads(shared_path(*parts).read_text())


@pytest.fixture
def shared_data() -> Path:
    return shared_path()
