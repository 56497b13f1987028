"""The docker-compose deployment: the four services, one published port (the dashboard, on
loopback by default), the node's RPC never published, and credentials only from `.env`."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import REPO

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker-compose.yml")

_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(k) + _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def test_services_are_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"bitcoind", "postgres", "indexer", "dashboard"} <= set(services)
    assert services["bitcoind"]["image"] == "bitcoin/bitcoin:28.1"
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["indexer"]["command"][0] == "run"
    assert services["dashboard"]["command"][0] == "serve"
    assert (REPO / services["indexer"]["build"] / "Dockerfile").is_file()


def test_node_serves_rest_unpruned_and_rpc_only_inside(compose: dict[str, Any]) -> None:
    node = compose["services"]["bitcoind"]
    args = node["command"]
    assert "-rest=1" in args and "-prune=0" in args
    assert "ports" not in node  # RPC is exposed to the compose network, never published
    assert any(a.startswith("-rpcallowip=${LOCKEDBTC_SUBNET") for a in args)
    subnet = compose["networks"]["lockedbtc"]["ipam"]["config"][0]["subnet"]
    assert subnet.startswith("${LOCKEDBTC_SUBNET")


def test_only_the_dashboard_port_is_published_on_loopback(compose: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in compose["services"].items() if "ports" in s}
    assert list(published) == ["dashboard"]
    (port,) = published["dashboard"]
    host, host_port, container_port = _VAR.sub(
        lambda m: _env_example()[m.group(1)], port).split(":")
    assert (host, container_port) == ("127.0.0.1", "8080")
    assert "--port" in compose["services"]["dashboard"]["command"]
    assert host_port == "8080"


def test_credentials_come_from_env_file(compose: dict[str, Any]) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    env = _env_example()
    used = set(_VAR.findall(text))
    assert used <= set(env), f"not in .env.example: {used - set(env)}"
    assert {"BITCOIN_RPC_PASSWORD", "POSTGRES_PASSWORD"} <= used
    for name in ("postgres", "indexer"):
        assert compose["services"][name]["env_file"] in (".env", [".env"])
    # no literal secret: with every ${...} removed, no password and no URL credential is left
    for value in _strings(compose["services"]):
        bare = _VAR.sub("", value)
        assert not re.search(r"password=\S", bare, re.IGNORECASE), value
        assert not re.search(r"://[^/@\s]*:[^/@\s]+@", bare), value
    assert all(v == "CHANGE_ME" for k, v in env.items() if "PASSWORD" in k)
    indexer_env = compose["services"]["indexer"]["environment"]
    assert "${POSTGRES_PASSWORD" in indexer_env["LOCKEDBTC_DB"]
    assert "@bitcoind:8332" in indexer_env["LOCKEDBTC_RPC"]
    assert "@postgres:5432/" in compose["services"]["dashboard"]["environment"]["LOCKEDBTC_DB"]
