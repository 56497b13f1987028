"""Powpeg parameters per chain: federation history, emergency keys, era heights, minimums.

Built-in mainnet history is `data/mainnet-federations.json` (provenance inside). A params
section `{"federations": [...], "min_pegin_sat": N, "erp_keys": [...], "erp_csv": N}`
replaces the built-in federations and, with `min_pegin_sat`, applies that one per-output
minimum at every height (regtest and test setups use current rules throughout).

Era heights are BTC heights. Only RSKIP379's (841,909) is exact (rootstock.md §2.1); the
others are RSK activation heights turned into BTC heights through dates and are good to a
few hundred blocks. They only move which minimum rule applies to old deposits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from adapters.base import ParamsError
from adapters.powpeg.addresses import AddressError, address_of, script_for_address
from adapters.powpeg.federation import ErpKeySet, p2sh_p2wsh_spk, p2sh_spk, parse_redeem

#: Before Iris the minimum (1,000,000 sat) applied to the total; Iris lowered it to
#: 500,000; Hop applies it to every federation output (rootstock.md §2.2).
MIN_BEFORE_IRIS = 1_000_000
MIN_PEGIN = 500_000

#: Migration window after a successor's activation, in BTC blocks (10,585 RSK blocks ≈ 3.7
#: days; 172,800 between Hop 4.0.1 and Fingerroot, RSKIP357/374).
RETIRING_WINDOW = 530
RETIRING_WINDOW_LONG = 8_640

#: SVP fund outputs (RSKIP419): two outputs of exactly this value to the proposed federation.
SVP_OUTPUT_SAT = 800_000

# Testnet emergency keys, from rskj: the current `FederationTestNetConstants.erpFedPubKeysList`
# and the earlier set the hard-coded testnet non-standard ERP federation uses
# (`P2shErpFederationTest` with `bridgeTestNetConstants.getErpFedPubKeysList()`).
_TESTNET_ERP_SETS = (
    ("0216c23b2ea8e4f11c3f9e22711addb1d16a93964796913830856b568cc3ea21d3",
     "034db69f2112f4fb1bb6141bf6e2bd6631f0484d0bd95b16767902c9fe219d4a6f",
     "0275562901dd8faae20de0a4166362a4f82188db77dbed4ca887422ea1ec185f14"),
    ("03b9fc46657cf72a1afa007ecf431de1cd27ff5cc8829fa625b66ca47b967e6b24",
     "029cecea902067992d52c38b28bf0bb2345bda9b21eca76b16a17c477a64e43301",
     "03284178e5fbcc63c54c3b38e3ef88adf2da6c526313650041b0ef955763634ebd"),
)


@dataclass(frozen=True, slots=True)
class Eras:
    """BTC heights where Bitcoin-visible Bridge rules change (0 = always current rules)."""

    papyrus: int = 0  # RSKIP143: P2SH-P2WPKH senders, segwit-serialised peg-ins provable
    iris: int = 0  # RSKIP170 RSKT v1; minimum 1,000,000 -> 500,000 on the total
    hop: int = 0  # RSKIP293: minimum per federation output
    hop401: int = 0  # long migration window starts
    fingerroot: int = 0  # long migration window ends
    rskip379: int = 0  # new peg-in evaluation


MAINNET_ERAS = Eras(papyrus=632_159, iris=696_270, hop=749_318, hop401=769_781,
                    fingerroot=796_416, rskip379=841_909)


@dataclass(frozen=True, slots=True)
class FederationSeed:
    """A federation known before scanning (built in or listed in params)."""

    address: str
    script_pubkey: bytes
    from_height: int | None
    retired_height: int | None
    redeem_script: bytes | None
    name: str | None
    source: str  # "builtin" | "params"


@dataclass(frozen=True, slots=True)
class PowpegParams:
    chain: str
    federations: tuple[FederationSeed, ...]
    erp_sets: tuple[ErpKeySet, ...]
    eras: Eras = field(default_factory=Eras)
    min_pegin_sat: int = MIN_PEGIN
    #: None: the era table decides; else this per-output minimum at every height.
    min_override: int | None = None
    #: On chains whose history we do not ship (testnet), a flyover-prefixed redeem script is
    #: accepted as proof of a federation; on mainnet a test federation did the same (vector
    #: a4d76b62), so there only known addresses and the mainnet ERP keys count.
    trust_flyover: bool = False

    def start_height(self) -> int:
        heights = [f.from_height for f in self.federations if f.from_height is not None]
        return min(heights) if heights else 0

    def retiring_window(self, height: int) -> int:
        if self.eras.hop401 <= height < self.eras.fingerroot:
            return RETIRING_WINDOW_LONG
        return RETIRING_WINDOW


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ParamsError(f"powpeg: {what} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ParamsError(f"powpeg: {what} is not hex: {value!r}") from None


def _opt_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParamsError(f"powpeg: {what} must be a non-negative integer, got {value!r}")
    return value


def _seed(entry: Mapping[str, Any], chain: str, source: str, i: int) -> FederationSeed:
    where = f"federations[{i}]"
    if not isinstance(entry, Mapping) or not isinstance(entry.get("address"), str):
        raise ParamsError(f"powpeg: {where} needs an \"address\" string")
    address: str = entry["address"]
    try:
        spk = script_for_address(address, chain)
    except AddressError as e:
        raise ParamsError(f"powpeg: {where}: {e}") from None
    if spk[0] != 0xA9:
        raise ParamsError(f"powpeg: {where}: {address} is not a script-hash (P2SH) address")
    redeem_hex = entry.get("redeem_script")
    redeem = _hex(redeem_hex, f"{where}.redeem_script") if redeem_hex is not None else None
    if redeem is not None and spk not in (p2sh_spk(redeem), p2sh_p2wsh_spk(redeem)):
        raise ParamsError(f"powpeg: {where}: redeem_script does not hash to {address}")
    from_h = entry.get("from_height", entry.get("approx_from_height"))
    until = entry.get("retired_height", entry.get("approx_retired_height"))
    return FederationSeed(address, spk, _opt_int(from_h, f"{where}.from_height"),
                          _opt_int(until, f"{where}.retired_height"), redeem,
                          entry.get("name"), source)


def _builtin_mainnet() -> tuple[tuple[FederationSeed, ...], ErpKeySet]:
    text = resources.files("adapters.powpeg").joinpath("data/mainnet-federations.json")
    doc = json.loads(text.read_text())
    seeds = tuple(_seed(e, "main", "builtin", i) for i, e in enumerate(doc["federations"])
                  if e.get("address"))
    erp = ErpKeySet(frozenset(bytes.fromhex(k) for k in doc["erp_keys"]), doc["erp_csv"])
    return seeds, erp


def load(chain: str, section: Mapping[str, Any] | None) -> PowpegParams:
    """Built-in parameters for `chain`, overridden by the params-file `section`."""
    section = section or {}
    if not isinstance(section, Mapping):
        raise ParamsError("powpeg: the params section must be an object")
    unknown = set(section) - {"federations", "min_pegin_sat", "erp_keys", "erp_csv"}
    if unknown:
        raise ParamsError(f"powpeg: unknown key(s) {sorted(unknown)}")
    feds: tuple[FederationSeed, ...] = ()
    erp_sets: tuple[ErpKeySet, ...] = ()
    eras = Eras()
    if chain == "main":
        feds, erp = _builtin_mainnet()
        erp_sets, eras = (erp,), MAINNET_ERAS
    elif chain in ("test", "testnet4"):
        erp_sets = tuple(ErpKeySet(frozenset(bytes.fromhex(k) for k in s))
                         for s in _TESTNET_ERP_SETS)
    if "federations" in section:
        listed = section["federations"]
        if not isinstance(listed, list):
            raise ParamsError("powpeg: \"federations\" must be a list")
        feds = tuple(_seed(e, chain, "params", i) for i, e in enumerate(listed))
    if "erp_keys" in section:
        keys = section["erp_keys"]
        if not isinstance(keys, list) or not keys:
            raise ParamsError("powpeg: \"erp_keys\" must be a non-empty list of hex keys")
        csv = _opt_int(section.get("erp_csv"), "erp_csv")
        erp_sets = (ErpKeySet(frozenset(_hex(k, "erp_keys[]") for k in keys), csv),)
    minimum = _opt_int(section.get("min_pegin_sat"), "min_pegin_sat")
    # A listed redeem script must itself look like a federation of this chain.
    for f in feds:
        if f.redeem_script is not None and parse_redeem(f.redeem_script) is None:
            raise ParamsError(f"powpeg: the redeem_script of {f.address} is neither a "
                              "multisig nor an ERP script")
    return PowpegParams(chain, feds, erp_sets, eras,
                        minimum if minimum is not None else MIN_PEGIN, minimum,
                        trust_flyover=chain != "main")


def describe(spk: bytes, chain: str) -> str:
    """An address for display; hex of the script when it has no address form."""
    return address_of(spk, chain) or spk.hex()
