"""Settings: flag > environment > config file > default, resolved once per command.

Also loads the params file (JSON or TOML, one section per adapter) and builds the adapters
it configures; a malformed file or section is a `ConfigError` naming the file and key.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters import registry
from adapters.base import Adapter, ParamsError
from indexer.db.engine import DEFAULT_DB
from indexer.errors import ChainMismatch, ConfigError

ENV_CONFIG = "LOCKEDBTC_CONFIG"
_FILE_KEYS = {"db", "rpc", "params", "confirmations", "cookie_file", "rpc_retry_seconds"}


@dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    rpc: str | None = None
    params: Path | None = None
    confirmations: int = 0
    cookie_file: Path | None = None
    rpc_retry_seconds: float = 30.0


def _read_structured(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"the {what} {path} is not valid "
                          f"{'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}"
                          ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"the {what} {path} must hold an object at the top level")
    return data


def resolve(*, config: str | None, db: str | None, rpc: str | None, params: str | None,
            confirmations: int | None, cookie_file: str | None,
            rpc_retry_seconds: float | None = None) -> Settings:
    """Merge flags/env (already folded by click) over the config file over defaults."""
    file: dict[str, Any] = {}
    cfg = config or os.environ.get(ENV_CONFIG)
    if cfg:
        file = _read_structured(Path(cfg), "config file")
        unknown = set(file) - _FILE_KEYS
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))} in config file "
                              f"{cfg}", f"known: {', '.join(sorted(_FILE_KEYS))}")

    def pick(flag: Any, key: str, default: Any) -> Any:
        return flag if flag is not None else file.get(key, default)

    conf = pick(confirmations, "confirmations", 0)
    if not isinstance(conf, int) or isinstance(conf, bool) or conf < 0:
        raise ConfigError(f"confirmations must be a whole number >= 0, got {conf!r}")
    retry = pick(rpc_retry_seconds, "rpc_retry_seconds", 30.0)
    if not isinstance(retry, int | float) or isinstance(retry, bool) or retry < 0:
        raise ConfigError(f"rpc_retry_seconds must be a number >= 0, got {retry!r}")
    p = pick(params, "params", None)
    ck = pick(cookie_file, "cookie_file", None)
    return Settings(db=str(pick(db, "db", DEFAULT_DB)), rpc=pick(rpc, "rpc", None),
                    params=Path(p) if p else None, confirmations=conf,
                    cookie_file=Path(ck) if ck else None, rpc_retry_seconds=float(retry))


def load_params(path: Path | None) -> dict[str, Any]:
    """The params file as {adapter name: section}; {} when none is given."""
    if path is None:
        return {}
    data = _read_structured(path, "params file")
    known = set(registry.names())
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown section(s) {', '.join(sorted(unknown))} in params file "
                          f"{path}", f"known adapters: {', '.join(sorted(known)) or 'none'}")
    for name, section in data.items():
        if not isinstance(section, dict):
            raise ConfigError(f"section {name!r} of params file {path} must be an object")
    return data


# ---------------------------------------------------------------------------- params vs chain
#
# "Wrong chain for the params" means: the params file names an address (a Powpeg
# federation, an sBTC peg address, any key with "address" in its name) whose encoding
# belongs to another network than the node's chain. Such a file was written for another
# chain; indexing with it would silently find nothing (or the wrong outputs), so it is
# refused up front with one line, before any adapter reads it.

_TESTNETS = frozenset({"test", "testnet4", "signet"})
#: bech32 human-readable part -> the chains whose addresses use it.
_HRP_CHAINS = {"bc": frozenset({"main"}), "tb": _TESTNETS, "bcrt": frozenset({"regtest"})}
#: base58 first character -> chains (testnets and regtest share version bytes).
_B58_CHAINS = {"1": frozenset({"main"}), "3": frozenset({"main"}),
               "m": _TESTNETS | {"regtest"}, "n": _TESTNETS | {"regtest"},
               "2": _TESTNETS | {"regtest"}}
_B58_ALPHABET = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")


def address_chains(address: str) -> frozenset[str] | None:
    """The chains an address string can belong to by its prefix; None when it does not
    look like a Bitcoin address at all (the adapter then judges it)."""
    low = address.lower()
    hrp, sep, _data = low.rpartition("1")
    if sep and hrp in _HRP_CHAINS and len(low) >= 14:
        return _HRP_CHAINS[hrp]
    if 25 <= len(address) <= 35 and set(address) <= _B58_ALPHABET:
        return _B58_CHAINS.get(address[0])
    return None


def _addresses(value: Any, where: str) -> list[tuple[str, str]]:
    """(path, address) for every string under a key that names an address."""
    found: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            path = f"{where}.{k}"
            if "address" in str(k).lower():
                items = v if isinstance(v, list) else [v]
                for i, item in enumerate(items):
                    if isinstance(item, str):
                        found.append((f"{path}[{i}]" if isinstance(v, list) else path, item))
            found += _addresses(v, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _addresses(item, f"{where}[{i}]")
    return found


def check_params_chain(chain: str, params: Mapping[str, Any], names: Sequence[str],
                       source: str = "params file") -> None:
    """Refuse params written for another chain than the node's (see the note above)."""
    for name in names:
        for path, address in _addresses(params.get(name), name):
            chains = address_chains(address)
            if chains is not None and chain not in chains:
                made_for = "mainnet" if chains == {"main"} else "/".join(sorted(chains))
                raise ChainMismatch(
                    f"{source} is for another chain: {path} = {address} is a {made_for} "
                    f"address but the node is on {chain!r}",
                    f"use params made for {chain!r}, or point --rpc at a node of the chain "
                    "the file was written for")


def build_adapters(chain: str, params: Mapping[str, Any], names: Sequence[str] | None = None,
                   source: str = "params file") -> list[Adapter]:
    """Instantiate the selected adapters (all registered ones by default) for `chain`."""
    selected = list(names) if names else registry.names()
    check_params_chain(chain, params, [n for n in selected if n in params], source)
    out = []
    for name in selected:
        try:
            cls = registry.adapter_class(name)
        except KeyError as exc:
            raise ConfigError(str(exc.args[0])) from None
        try:
            out.append(cls.from_params(chain, params.get(name)))
        except ParamsError as exc:
            raise ConfigError(f"{source}, section {name!r}: {exc}") from None
    return out
