"""Running the real `lockedbtc` console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

LOCKEDBTC = [sys.executable, "-c", "from indexer.cli import main; main()"]


def run(args: Sequence[str], timeout: float = 120, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "LOCKEDBTC_LOG_LEVEL": "WARNING", **(env or {})}
    return subprocess.run([*LOCKEDBTC, *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def ok_json(args: Sequence[str]) -> Any:
    res = run(args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)
