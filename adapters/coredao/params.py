"""Core DAO adapter parameters: which Core chain id to accept and where to start scanning.

The params-file section is `{"chain_id": N, "start_height": H}`, both optional.

- `chain_id`: Core mainnet is 1116 (`045c`); the docs name 1115 (old Core Testnet) and
  1114 (Core Testnet2). Which Bitcoin network each Core testnet relays from is not stated
  in the sources read, so the non-mainnet defaults below are best guesses: override them.
  Payloads naming another chain are recorded as rejections, never as stakes.
- `start_height`: Core turned self-custodial BTC staking on with the Poseidon hard fork
  (Core block 13,232,049, about 2024-04-13; coredao-org/core-chain v1.0.8 release notes),
  around Bitcoin height 839,000. A Bitcoin transaction may be made before it is relayed
  (Core only checks the lock outlives the next round), so the default starts about nine
  weeks earlier, at 830,000 (2024-02). The `SAT+` needle makes the extra blocks cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.base import ParamsError

__all__ = ["DEFAULT_CHAIN_IDS", "DEFAULT_START_HEIGHTS", "MAINNET_CHAIN_ID", "CoreDaoParams",
           "load_params"]

MAINNET_CHAIN_ID = 1116

DEFAULT_CHAIN_IDS: dict[str, int] = {
    "main": MAINNET_CHAIN_ID,
    "test": 1115,
    "testnet4": 1114,
    "signet": 1114,
    # NOTE: regtest mirrors mainnet so that scenarios build the payloads users will see.
    "regtest": MAINNET_CHAIN_ID,
}

DEFAULT_START_HEIGHTS: dict[str, int] = {"main": 830_000}

_KEYS = frozenset({"chain_id", "start_height"})


@dataclass(frozen=True, slots=True)
class CoreDaoParams:
    chain_id: int
    start_height: int


def _int(section: Mapping[str, Any], key: str, lo: int, hi: int) -> int | None:
    if key not in section:
        return None
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"coredao.{key} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ParamsError(f"coredao.{key} must be between {lo} and {hi}, got {value}")
    return value


def load_params(chain: str, section: Mapping[str, Any] | None) -> CoreDaoParams:
    """Built-in defaults for `chain`, overridden by the params-file `section`."""
    section = section or {}
    if not isinstance(section, Mapping):
        raise ParamsError(f"coredao params must be a table/object, got {type(section).__name__}")
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ParamsError(f"coredao: unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(_KEYS))})")
    chain_id = _int(section, "chain_id", 0, 0xFFFF)
    start = _int(section, "start_height", 0, 2**31 - 1)
    if chain_id is None:
        chain_id = DEFAULT_CHAIN_IDS.get(chain, MAINNET_CHAIN_ID)
    if start is None:
        start = DEFAULT_START_HEIGHTS.get(chain, 0)
    return CoreDaoParams(chain_id=chain_id, start_height=start)
