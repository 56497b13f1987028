"""Stacks parameters per Bitcoin chain: magic, PoX constants, epochs, sBTC peg addresses.

Mainnet values are built in (stacks.md §0, §1.2 epoch table, §2, §3.3); every key can be
overridden by the params file's `stacks` section (contract.md):

    {"magic": "X2", "first_burn_height": 666050, "reward_cycle_length": 2100,
     "prepare_length": 100, "epochs": {"2.05": 713000, "2.1": 781551, ...},
     "sunset_start_height": 766050, "sunset_end_height": 1166050,
     "sbtc_peg_addresses": ["bc1p..."], "sbtc_op_return_magic": "T3"}

`epochs` maps an epoch name from the table below to its activation height (a list of
`{"name", "height"}` objects is accepted too); the epoch decides the address rules and the
minimum epoch marker of a block-commit, and "4.0" switches on the PoX-5 single-output
commit form from the next reward cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.base import ParamsError

__all__ = ["EPOCH_MARKERS", "MAINNET_PEG_ADDRESSES", "Epoch", "StacksParams"]

#: epoch name -> minimum block-commit epoch marker (stacks.md §1.2; 0x0c skipped on purpose).
EPOCH_MARKERS: dict[str, int | None] = {
    "2.0": None, "2.05": 0x05, "2.1": 0x06, "2.2": 0x07, "2.3": 0x08, "2.4": 0x09,
    "2.5": 0x0A, "3.0": 0x0B, "3.1": 0x0D, "3.2": 0x0E, "3.3": 0x0F, "3.4": 0x10, "4.0": 0x11,
}

_MAINNET_EPOCHS = {
    "2.0": 666_050, "2.05": 713_000, "2.1": 781_551, "2.2": 787_651, "2.3": 788_240,
    "2.4": 791_551, "2.5": 840_360, "3.0": 867_867, "3.1": 875_000, "3.2": 907_740,
    "3.3": 923_222, "3.4": 943_333,
    # NOTE: scheduled in the stacks-core snapshot, activation unconfirmed (stacks.md §0.9);
    # the commit parser only takes the single-output form when the tx cannot be the 2.x
    # form, so a non-activation does not misread commits.
    "4.0": 960_230,
}

#: Known mainnet sBTC peg addresses, in order of appearance (stacks.md §3.3). The
#: unexplained `bc1psptt20…` from one docs variant is deliberately left out.
MAINNET_PEG_ADDRESSES = (
    "bc1pl033nz4lj7u7wz3l2k2ew3f7af4sdja8r25ernl00thflwempayswr5hvc",
    "bc1prcs82tvrz70jk8u79uekwdfjhd0qhs2mva6e526arycu7fu25zsqhyztuy",
    "bc1p6ys2ervatu00766eeqfmverzegg9fkprn3xjn0ppn70h53qu5vus3yzl0x",
    "bc1pgg0us9y5skfpatq0nhxt7khhk8qxv0zgle36r6yxnql6dvyaafqsahn043",
)

_BUILTIN: dict[str, dict[str, Any]] = {
    "main": {"magic": "X2", "first_burn_height": 666_050, "reward_cycle_length": 2100,
             "prepare_length": 100, "epochs": _MAINNET_EPOCHS,
             # The PoX sunset window (first + 100,000 .. first + 500,000); its burn was
             # only enforced before epoch 2.1 (stacks.md §1.2).
             "sunset_start_height": 766_050, "sunset_end_height": 1_166_050,
             "sbtc_peg_addresses": list(MAINNET_PEG_ADDRESSES)},
    # Old public testnet ("xenon" mode) on testnet3; its epoch heights are not in the
    # research, so every rule of the 3.x epochs applies from the first height.
    "test": {"magic": "T2", "first_burn_height": 2_000_000, "reward_cycle_length": 1050,
             "prepare_length": 50, "epochs": {"3.0": 0}},
    # stacks-core's regtest defaults (magic `id`, cycle 5, prepare 3).
    "regtest": {"magic": "id", "first_burn_height": 0, "reward_cycle_length": 5,
                "prepare_length": 3, "epochs": {"3.0": 0}},
}
_BUILTIN["testnet4"] = _BUILTIN["signet"] = _BUILTIN["regtest"]

_KEYS = {"magic", "first_burn_height", "reward_cycle_length", "prepare_length", "epochs",
         "sunset_start_height", "sunset_end_height", "sbtc_peg_addresses",
         "sbtc_op_return_magic"}


@dataclass(frozen=True, slots=True)
class Epoch:
    name: str
    height: int
    marker: int | None


@dataclass(frozen=True, slots=True)
class StacksParams:
    chain: str
    magic: bytes
    first_burn_height: int
    reward_cycle_length: int
    prepare_length: int
    epochs: tuple[Epoch, ...]  # ascending by height
    sunset_start_height: int | None
    sunset_end_height: int | None
    sbtc_peg_addresses: tuple[str, ...]
    sbtc_peg_scripts: tuple[bytes, ...]
    sbtc_op_return_magic: bytes = b"T3"

    @property
    def mainnet(self) -> bool:
        return self.chain == "main"

    def epoch_at(self, height: int) -> Epoch:
        """The epoch in force at `height` (the first epoch before it starts)."""
        found = self.epochs[0]
        for e in self.epochs:
            if e.height <= height:
                found = e
        return found

    def epoch_at_least(self, height: int, name: str) -> bool:
        """Whether epoch `name` (or a later one) is active at `height`."""
        want = float(name)
        return float(self.epoch_at(height).name) >= want

    def epoch_height(self, name: str) -> int | None:
        for e in self.epochs:
            if e.name == name:
                return e.height
        return None

    @classmethod
    def builtin(cls, chain: str) -> StacksParams:
        return cls.build(chain, None)

    @classmethod
    def build(cls, chain: str, section: Mapping[str, Any] | None) -> StacksParams:
        base = dict(_BUILTIN.get(chain, _BUILTIN["regtest"]))
        section = dict(section or {})
        unknown = set(section) - _KEYS
        if unknown:
            raise ParamsError(f"stacks: unknown key(s) {sorted(unknown)} (known: {sorted(_KEYS)})")
        base.update(section)
        magic = _magic(base["magic"], "magic")
        first = _int(base, "first_burn_height")
        cycle = _int(base, "reward_cycle_length")
        prepare = _int(base, "prepare_length")
        if cycle < 1 or not 0 < prepare < cycle:
            raise ParamsError(f"stacks: need 0 < prepare_length ({prepare}) < "
                              f"reward_cycle_length ({cycle})")
        epochs = _epochs(base["epochs"])
        addrs = base.get("sbtc_peg_addresses") or []
        if not isinstance(addrs, list) or not all(isinstance(a, str) for a in addrs):
            raise ParamsError("stacks: sbtc_peg_addresses must be a list of address strings")
        scripts = tuple(_address_script(a) for a in addrs)
        return cls(chain, magic, first, cycle, prepare, epochs,
                   _opt_int(base, "sunset_start_height"), _opt_int(base, "sunset_end_height"),
                   tuple(addrs), scripts,
                   _magic(base.get("sbtc_op_return_magic", "T3"), "sbtc_op_return_magic"))


def _magic(value: Any, key: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 or not value.isascii():
        raise ParamsError(f"stacks: {key} must be two ASCII characters, got {value!r}")
    return value.encode("ascii")


def _int(d: Mapping[str, Any], key: str) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ParamsError(f"stacks: {key} must be a non-negative integer, got {v!r}")
    return v


def _opt_int(d: Mapping[str, Any], key: str) -> int | None:
    return None if d.get(key) is None else _int(d, key)


def _epochs(value: Any) -> tuple[Epoch, ...]:
    if isinstance(value, list):
        try:
            value = {str(e["name"]): e["height"] for e in value}
        except (TypeError, KeyError) as exc:
            raise ParamsError("stacks: epochs list items need 'name' and 'height'") from exc
    if not isinstance(value, Mapping) or not value:
        raise ParamsError("stacks: epochs must map epoch names to activation heights")
    out = []
    for name, height in value.items():
        if name not in EPOCH_MARKERS:
            raise ParamsError(f"stacks: unknown epoch {name!r} (known: {list(EPOCH_MARKERS)})")
        if not isinstance(height, int) or isinstance(height, bool) or height < 0:
            raise ParamsError(f"stacks: epoch {name} height must be a non-negative integer")
        out.append(Epoch(name, height, EPOCH_MARKERS[name]))
    out.sort(key=lambda e: (e.height, float(e.name)))
    return tuple(out)


def _address_script(addr: str) -> bytes:
    # Cold path (once per start): embit decodes every address form for us.
    from embit.script import address_to_scriptpubkey

    try:
        spk: bytes = address_to_scriptpubkey(addr).data
    except Exception as exc:  # embit raises assorted types for bad input
        raise ParamsError(f"stacks: sbtc_peg_addresses: cannot decode {addr!r}: {exc}") from exc
    return spk
