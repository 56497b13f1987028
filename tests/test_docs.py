"""The README's two commands are the ones CI and users run."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    top = text.split("## What it indexes")[0]
    return re.findall(r"```sh\n(.+?)\n```", top)


def test_readme_opens_with_setup_plus_demo_and_the_test_command() -> None:
    setup_demo, tests = _readme_commands()[:2]
    assert "pip install" in setup_demo and setup_demo.rstrip().endswith("lockedbtc demo")
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command() -> None:
    tests = _readme_commands()[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert tests in ci.splitlines(), f"{tests!r} is not a line of .ci/run"
