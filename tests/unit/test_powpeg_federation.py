"""Federation scripts: the listed mainnet redeem scripts hash to their addresses, the
builders reproduce them from keys, and the packaged history agrees with the shared data."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.powpeg.addresses import address_of, script_for_address
from adapters.powpeg.federation import (
    ErpKeySet,
    erp_script,
    flyover_script,
    multisig_script,
    p2sh_p2wsh_spk,
    p2sh_spk,
    parse_redeem,
)
from adapters.powpeg.params import load
from tests.conftest import load_json


def _feds() -> list[dict[str, Any]]:
    return list(load_json("rootstock", "mainnet-federations.json")["federations"])


def _address(redeem: bytes, fed: dict[str, Any]) -> str | None:
    segwit = fed.get("rskj_format_version") == 4000
    return address_of(p2sh_p2wsh_spk(redeem) if segwit else p2sh_spk(redeem), "main")


def test_listed_redeem_scripts_hash_to_their_addresses() -> None:
    with_script = [f for f in _feds() if f.get("redeem_script_hex")]
    assert len(with_script) == 9
    for fed in with_script:
        redeem = bytes.fromhex(fed["redeem_script_hex"])
        assert _address(redeem, fed) == fed["address"], fed["index"]
        assert script_for_address(fed["address"], "main").hex() == fed["scriptpubkey_hex"]


def test_builders_rebuild_every_script_from_its_keys() -> None:
    doc = load_json("rootstock", "mainnet-federations.json")
    erp_keys = [bytes.fromhex(k) for k in doc["erp_emergency_keys_mainnet"]]
    for fed in _feds():
        if not fed.get("redeem_script_hex"):
            continue
        keys = [bytes.fromhex(k) for k in fed["btc_pubkeys_sorted"]]
        fmt = fed["rskj_format_version"]
        if fmt == 1000:
            built = multisig_script(keys)
        else:
            built = erp_script(keys, erp_keys, doc["erp_csv_blocks"], standard=fmt != 2000)
        assert built.hex() == fed["redeem_script_hex"], fed["index"]
        red = parse_redeem(built)
        assert red is not None and red.threshold == fed["threshold"]


def test_big_endian_csv_gives_the_wrong_first_erp_address() -> None:
    """rootstock.md §1.1: only the signed LE CSV `50cd00` gives 3DsneJha; BE gives 3JCihvuZ."""
    (fed,) = [f for f in _feds() if f["index"] == 5]
    redeem = bytes.fromhex(fed["redeem_script_hex"])
    assert b"\x03\x50\xcd\x00" in redeem
    wrong = redeem.replace(b"\x03\x50\xcd\x00", b"\x02\xcd\x50")
    assert (address_of(p2sh_spk(wrong), "main") or "").startswith("3JCihvuZ")


def test_erp_recognition_needs_the_mainnet_emergency_keys() -> None:
    doc = load_json("rootstock", "mainnet-federations.json")
    (fed,) = [f for f in _feds() if f["index"] == 8]
    keys = [bytes.fromhex(k) for k in fed["btc_pubkeys_sorted"]]
    erp = ErpKeySet(frozenset(bytes.fromhex(k) for k in doc["erp_emergency_keys_mainnet"]),
                    52560)
    real = parse_redeem(erp_script(keys, sorted(erp.keys), 52560))
    assert real is not None and erp.matches(real)
    # Same template, one emergency key swapped: a look-alike, not Powpeg.
    fake_erp = [*sorted(erp.keys)[:3], keys[0]]
    fake = parse_redeem(erp_script(keys, fake_erp, 52560))
    assert fake is not None and not erp.matches(fake)
    # Same keys, another CSV: not the mainnet template either.
    other_csv = parse_redeem(erp_script(keys, sorted(erp.keys), 30))
    assert other_csv is not None and not erp.matches(other_csv)


def test_flyover_prefix_is_stripped() -> None:
    (fed,) = [f for f in _feds() if f["index"] == 7]
    inner = bytes.fromhex(fed["redeem_script_hex"])
    red = parse_redeem(flyover_script(b"\x01" + b"\x00" * 31, inner))
    assert red is not None and red.inner == inner and red.flyover_hash == b"\x01" + b"\x00" * 31


@pytest.mark.parametrize("junk", [b"", b"\x51", b"\x4c", b"\x52\x21" + b"\x02" * 10,
                                  bytes.fromhex("76a914" + "00" * 20 + "88ac")])
def test_non_federation_scripts_are_not_recognised(junk: bytes) -> None:
    assert parse_redeem(junk) is None


def test_packaged_history_matches_shared_data() -> None:
    """The built-in data file carries every shared address, script and redeem script."""
    params = load("main", None)
    built = {f.address: f for f in params.federations}
    shared = [f for f in _feds() if f.get("address")]
    assert set(built) == {f["address"] for f in shared}
    for fed in shared:
        seed = built[fed["address"]]
        if fed.get("scriptpubkey_hex"):
            assert seed.script_pubkey.hex() == fed["scriptpubkey_hex"]
        want = fed.get("redeem_script_hex")
        assert (seed.redeem_script.hex() if seed.redeem_script else None) == want
    # Retirement heights are ordered like the history (approximate but monotonic).
    retired = [f.retired_height for f in params.federations if f.retired_height is not None]
    assert retired == sorted(retired)
    assert params.federations[-1].retired_height is None  # the current federation


@pytest.mark.parametrize("section, words", [
    ({"federations": [{"address": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"}]}, "script-hash"),
    ({"federations": [{"address": "3notbase58!"}]}, "base58"),
    ({"federations": [{"address": "39AHNvUmzaYgewA8yCtBtNsfRz7QD7ZJYi",
                       "redeem_script": "51ae"}]}, "does not hash"),
    ({"min_pegin_sat": -1}, "min_pegin_sat"),
    ({"federation": []}, "unknown key"),
])
def test_bad_params_name_the_key(section: dict[str, Any], words: str) -> None:
    from adapters.base import ParamsError

    with pytest.raises(ParamsError, match=words):
        load("main", section)


def test_mainnet_needles_cover_every_known_federation() -> None:
    from adapters.powpeg import PowpegAdapter

    adapter = PowpegAdapter.from_params("main", None)
    needles = set(adapter.needles({}))
    for fed in _feds():
        if fed.get("scriptpubkey_hex"):
            assert bytes.fromhex(fed["scriptpubkey_hex"]) in needles
    assert adapter.start_height() <= 503_000  # RSK genesis, Jan 2018
