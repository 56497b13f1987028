"""Babylon global parameters: built-in versions per chain, parsing, selection by height.

Format and rules: babylonlabs-io/networks `parameters/README.md` and `ParamsParser.go`
(spec babylon.md §3.1). Selection is the last version with `activation_height <= h`; there
is no upper bound. Built-in files live in `data/` (byte copies, provenance beside them).
A params-file section `{"versions": [...]}` replaces the built-in list entirely: that is
how regtest gets its own tag and covenant keys.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from coincurve import PublicKey

from adapters.base import ParamsError

__all__ = [
    "BUILTIN_FILES",
    "GlobalParams",
    "ParamsVersion",
    "builtin_params",
    "load_fp_registry",
    "parse_params",
]

DATA = Path(__file__).resolve().parent / "data"
#: chain (as getblockchaininfo names it) -> built-in params file; other chains have none.
BUILTIN_FILES = {
    "main": "mainnet-global-params.json",
    "signet": "signet-bbn-test-4-global-params.json",
}
FP_REGISTRY_FILE = "bbn1-finality-provider-registry.json"
MAX_UINT16 = 65535


@dataclass(frozen=True, slots=True)
class ParamsVersion:
    version: int
    activation_height: int
    staking_cap: int | None
    cap_height: int | None
    tag: bytes
    covenant_pks: tuple[bytes, ...]  # x-only, sorted ascending (the multisig's order)
    covenant_quorum: int
    unbonding_time: int
    unbonding_fee: int
    min_staking_amount: int
    max_staking_amount: int
    min_staking_time: int
    max_staking_time: int
    confirmation_depth: int

    @property
    def covenant_set(self) -> tuple[tuple[bytes, ...], int]:
        return self.covenant_pks, self.covenant_quorum


@dataclass(frozen=True, slots=True)
class GlobalParams:
    versions: tuple[ParamsVersion, ...]

    def at(self, height: int) -> ParamsVersion | None:
        """The version in force at `height` (GetVersionedGlobalParamsByHeight)."""
        found = None
        for v in self.versions:
            if v.activation_height <= height:
                found = v
            else:
                break
        return found

    def by_version(self, version: int) -> ParamsVersion | None:
        if 0 <= version < len(self.versions):
            return self.versions[version]
        return None

    @property
    def tags(self) -> tuple[bytes, ...]:
        return tuple(dict.fromkeys(v.tag for v in self.versions))

    @property
    def covenant_sets(self) -> tuple[tuple[tuple[bytes, ...], int], ...]:
        """Distinct (sorted covenant keys, quorum) pairs, oldest first."""
        return tuple(dict.fromkeys(v.covenant_set for v in self.versions))

    def versions_with(self, covenants: tuple[bytes, ...], quorum: int
                      ) -> tuple[ParamsVersion, ...]:
        return tuple(v for v in self.versions if v.covenant_set == (covenants, quorum))

    @property
    def first_height(self) -> int | None:
        return self.versions[0].activation_height if self.versions else None


def _int(obj: Mapping[str, Any], key: str, where: str, *, minimum: int = 0,
         maximum: int | None = None) -> int:
    v = obj.get(key)
    # NOTE: bool is an int subclass; `true` is never a valid amount or height.
    if not isinstance(v, int) or isinstance(v, bool):
        raise ParamsError(f"babylon {where}: {key!r} must be an integer, got {v!r}")
    if v < minimum or (maximum is not None and v > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ParamsError(f"babylon {where}: {key!r} = {v} must be {bound}")
    return v


def _covenants(obj: Mapping[str, Any], where: str) -> tuple[bytes, ...]:
    raw = obj.get("covenant_pks")
    if not isinstance(raw, list) or not raw:
        raise ParamsError(f"babylon {where}: 'covenant_pks' must be a non-empty list of "
                          "33-byte compressed public keys in hex")
    keys: list[bytes] = []
    for i, h in enumerate(raw):
        try:
            b = bytes.fromhex(h) if isinstance(h, str) else b""
        except ValueError:
            b = b""
        if len(b) != 33 or b[0] not in (2, 3):
            raise ParamsError(f"babylon {where}: covenant_pks[{i}] = {h!r} is not a 33-byte "
                              "compressed public key in hex (02/03 prefix)")
        try:
            PublicKey(b)
        except ValueError:
            raise ParamsError(f"babylon {where}: covenant_pks[{i}] is not a point on "
                              "secp256k1") from None
        keys.append(b[1:])
    if len(set(keys)) != len(keys):
        raise ParamsError(f"babylon {where}: covenant_pks lists the same key twice")
    return tuple(sorted(keys))


def _version(obj: Any, index: int) -> ParamsVersion:
    where = f"versions[{index}]"
    if not isinstance(obj, Mapping):
        raise ParamsError(f"babylon {where}: must be an object")
    version = _int(obj, "version", where)
    if version != index:
        raise ParamsError(f"babylon {where}: 'version' is {version}; versions must be "
                          f"consecutive from 0, so this one must be {index}")
    activation = _int(obj, "activation_height", where)
    has_cap, has_height = obj.get("staking_cap") is not None, obj.get("cap_height") is not None
    if has_cap == has_height:
        raise ParamsError(f"babylon {where}: exactly one of 'staking_cap' and 'cap_height' "
                          f"must be set ({'both' if has_cap else 'neither'} given)")
    staking_cap = _int(obj, "staking_cap", where, minimum=1) if has_cap else None
    cap_height = _int(obj, "cap_height", where, minimum=activation) if has_height else None
    tag_hex = obj.get("tag")
    try:
        tag = bytes.fromhex(tag_hex) if isinstance(tag_hex, str) else b""
    except ValueError:
        tag = b""
    if len(tag) != 4:
        raise ParamsError(f"babylon {where}: 'tag' = {tag_hex!r} must be 4 bytes in hex "
                          "(e.g. \"62626e31\")")
    covenants = _covenants(obj, where)
    quorum = _int(obj, "covenant_quorum", where, minimum=1, maximum=len(covenants))
    unbonding_time = _int(obj, "unbonding_time", where, minimum=1, maximum=MAX_UINT16)
    fee = _int(obj, "unbonding_fee", where, minimum=1)
    min_amount = _int(obj, "min_staking_amount", where)
    max_amount = _int(obj, "max_staking_amount", where, minimum=min_amount)
    if min_amount < fee + 1000:
        raise ParamsError(f"babylon {where}: 'min_staking_amount' {min_amount} must be at "
                          f"least unbonding_fee + 1000 = {fee + 1000}")
    min_time = _int(obj, "min_staking_time", where, minimum=1, maximum=MAX_UINT16)
    max_time = _int(obj, "max_staking_time", where, minimum=min_time, maximum=MAX_UINT16)
    if staking_cap is not None and staking_cap <= max_amount:
        raise ParamsError(f"babylon {where}: 'staking_cap' {staking_cap} must exceed "
                          f"'max_staking_amount' {max_amount}")
    depth = _int(obj, "confirmation_depth", where, minimum=2)
    return ParamsVersion(version, activation, staking_cap, cap_height, tag, covenants, quorum,
                         unbonding_time, fee, min_amount, max_amount, min_time, max_time, depth)


def parse_params(section: Mapping[str, Any]) -> GlobalParams:
    """Validate a `{"versions": [...]}` object in the official format."""
    if not isinstance(section, Mapping):
        raise ParamsError("babylon params must be an object with a 'versions' list")
    unknown = set(section) - {"versions"}
    if unknown:
        raise ParamsError(f"babylon params: unknown key(s) {sorted(unknown)}; only "
                          "'versions' is read")
    raw = section.get("versions")
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ParamsError("babylon params: 'versions' must be a list of version objects")
    versions = tuple(_version(v, i) for i, v in enumerate(raw))
    last_cap: int | None = None
    for prev, cur in itertools.pairwise(versions):
        if cur.activation_height <= prev.activation_height:
            raise ParamsError(f"babylon versions[{cur.version}]: activation_height "
                              f"{cur.activation_height} must be greater than the previous "
                              f"version's {prev.activation_height}")
    for v in versions:
        if v.staking_cap is not None:
            if last_cap is not None and v.staking_cap < last_cap:
                raise ParamsError(f"babylon versions[{v.version}]: staking_cap "
                                  f"{v.staking_cap} is below an earlier version's {last_cap}")
            last_cap = v.staking_cap
    return GlobalParams(versions)


@cache
def builtin_params(chain: str) -> GlobalParams:
    """The built-in versions for `chain`; empty (no Babylon) for chains without any."""
    name = BUILTIN_FILES.get(chain)
    if name is None:
        return GlobalParams(())
    return parse_params(json.loads((DATA / name).read_text()))


@cache
def load_fp_registry() -> dict[bytes, str]:
    """Finality-provider EOTS keys (x-only) -> moniker, from the public bbn-1 registry."""
    raw = json.loads((DATA / FP_REGISTRY_FILE).read_text())
    return {bytes.fromhex(k): str(v.get("moniker", "")) for k, v in raw.items()}
