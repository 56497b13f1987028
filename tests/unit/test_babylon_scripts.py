"""Babylon leaf scripts, tree and output keys, byte for byte (spec babylon.md §2)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.babylon.params import builtin_params
from adapters.babylon.scripts import (
    NUMS_X,
    DuplicateKeyError,
    build_staking,
    push_int,
    slashing_change_script_pubkey,
    tapbranch,
    unbonding_script_pubkey,
)
from adapters.babylon.spends import parse_leaf
from indexer.chain.block import parse_tx
from regtest.build import Transaction, TxInput, TxOutput
from tests.conftest import load_json


def _xonly(compressed_hex: str) -> bytes:
    return bytes.fromhex(compressed_hex)[1:]


def _official_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = load_json("babylon",
                                              "babylon-btcstaking-script-vectors.json")["vectors"]
    return vectors


@pytest.mark.parametrize("index", range(5))
def test_official_construction_vectors_rebuild_exactly(index: int) -> None:
    vectors = _official_vectors()
    assert len(vectors) == 5
    p, e = vectors[index]["parameters"], vectors[index]["expected"]
    staker = _xonly(p["staker_public_key"])
    fps = tuple(sorted(_xonly(k) for k in p["finality_provider_public_keys"]))
    covs = tuple(sorted(_xonly(k) for k in p["covenant_public_keys"]))
    s = build_staking(staker, fps, p["staking_time"], covs, p["covenant_quorum"])
    assert s.script_pubkey.hex() == e["staking_output_pkscript_hex"]
    assert s.timelock.hex() == e["staking_transaction_timelock_script_hex"]
    assert s.unbonding.hex() == e["staking_transaction_unbonding_script_hex"]
    assert s.slashing.hex() == e["staking_transaction_slashing_script_hex"]
    # The unbonding tx: one input spending the staking output, one output of value - fee.
    unbonding = Transaction(
        inputs=[TxInput(p["staking_tx_hash"], p["staking_output_index"])],
        outputs=[TxOutput(p["staking_value"] - p["unbonding_fee"],
                          unbonding_script_pubkey(staker, p["unbonding_time"],
                                                  s.slashing_hash))],
        version=p["unbonding_tx_version"])
    assert unbonding.serialize().hex() == e["unbonding_transaction_hex"]
    # Every leaf reads back as what it is, with the keys it holds.
    for script, kind in ((s.timelock, "timelock"), (s.unbonding, "unbonding"),
                         (s.slashing, "slashing")):
        leaf = parse_leaf(script)
        assert leaf is not None and leaf.kind == kind and leaf.staker == staker
    slashing = parse_leaf(s.slashing)
    assert slashing is not None and slashing.fps == fps and slashing.covenants == covs


def test_mainnet_worked_example_matches_spec_table() -> None:
    """The §2.2 table for mainnet tx 7d90210b (staker 0b93…, FP db91…, T 64000)."""
    v1 = builtin_params("main").by_version(1)
    assert v1 is not None
    staker = bytes.fromhex("0b93d2d388a2b89c2ba2ef28e99c0cfc20735b693cb8b2350fe8aceca2d0f393")
    fp = bytes.fromhex("db9160428e401753dc1a9952ffd4fa3386c7609cf8411d2b6d79c42323ca9923")
    s = build_staking(staker, (fp,), 64000, v1.covenant_pks, v1.covenant_quorum)
    assert s.timelock_hash.hex() == ("8a5d0707718a8f13727dd0c2f6976cf7"
                                     "c8b929ce9cf44976c8cb823d51128d37")
    assert s.unbonding_hash.hex() == ("978de2a0026f47964f2226a80e49ea41"
                                      "1f8808e12232f5c3855a031f47e9a68d")
    assert s.slashing_hash.hex() == ("b353de074de82811f0bd7560f1bb2651"
                                     "ebc4c33f7552e2704b834eee4ace4d72")
    assert tapbranch(s.timelock_hash, s.unbonding_hash).hex() == (
        "4eabc9c11a098facdcdb44cea3aa01d4d7239117e939521e063909b6cdf75ce4")
    assert s.root.hex() == "811bee4d39726a13c1be975bae24f38558b5298560fedc1a4b793054f39441e8"
    assert s.script_pubkey.hex() == ("512082f93ece9366a9e680d152dbc0c487e1"
                                     "81accbba145b5b72d00c820545064d44")
    assert unbonding_script_pubkey(staker, 1008, s.slashing_hash).hex() == (
        "51208c7f2fbee561d29060d911fa733886f16e4a74f3b4a62799ed05736a59232e25")
    # Mainnet sizes quoted in §2.1.
    assert len(s.unbonding) == 342 and len(s.slashing) == 376


@pytest.mark.parametrize(("n", "encoded"), [
    (64000, "0300fa00"), (1008, "02f003"), (1000, "02e803"), (10000, "021027"),
    (60000, "0360ea00"), (65535, "03ffff00"), (6, "56"), (3, "53"), (16, "60"), (17, "0111"),
    (100, "0164"), (128, "028000"),
])
def test_integers_are_pushed_like_btcd(n: int, encoded: str) -> None:
    assert push_int(n).hex() == encoded


def test_a_key_used_twice_cannot_build_a_stake() -> None:
    v0 = builtin_params("main").by_version(0)
    assert v0 is not None
    k = v0.covenant_pks[0]
    with pytest.raises(DuplicateKeyError):
        build_staking(NUMS_X, (NUMS_X,), 64000, v0.covenant_pks, 6)
    with pytest.raises(DuplicateKeyError):
        build_staking(k, (NUMS_X,), 64000, v0.covenant_pks, 6)


@pytest.mark.parametrize(("stake", "unbonding"), [
    ("signet-staking-noopreturn-ccc090ac", "signet-unbonding-unsigned-fd0324ac"),
    ("signet-staking-noopreturn-2e955830", "signet-unbonding-unsigned-ca86a9d6"),
])
def test_phase2_stakes_without_op_return_rebuild_from_known_keys(stake: str,
                                                                 unbonding: str) -> None:
    """With the keys from the Babylon chain, the output and its unbonding output rebuild.

    Phase-2 testnet params v5 use the same covenant set as bbn-test-4 v2..v4 (§4), so the
    built-in signet covenants serve.
    """
    sv = load_json("babylon", "vectors", f"{stake}.json")
    uv = load_json("babylon", "vectors", f"{unbonding}.json")
    e, ue = sv["expected"], uv["expected"]
    v2 = builtin_params("signet").by_version(2)
    assert v2 is not None
    staker = bytes.fromhex(e["staker_pk"])
    fps = tuple(bytes.fromhex(k) for k in e["finality_provider_pks"])
    s = build_staking(staker, fps, e["staking_time"], v2.covenant_pks, v2.covenant_quorum)
    tx = parse_tx(bytes.fromhex(sv["hex"]))
    out = tx.outputs[e["staking_output_index"]]
    assert out.script_pubkey.hex() == e["staking_output_script_pubkey"] == s.script_pubkey.hex()
    assert out.value == e["staking_value"]
    utx = parse_tx(bytes.fromhex(uv["hex"]))
    assert utx.inputs[0].prev_txid_hex == ue["spent_outpoint"]["txid"] == sv["txid"]
    expected_spk = unbonding_script_pubkey(staker, ue["unbonding_time"], s.slashing_hash)
    assert utx.outputs[0].script_pubkey == expected_spk
    assert expected_spk.hex() == ue["unbonding_output_script_pubkey"]
    assert utx.outputs[0].value == e["staking_value"] - ue["unbonding_fee"]


def test_slashing_change_is_a_single_timelock_leaf() -> None:
    staker = bytes.fromhex("0b93d2d388a2b89c2ba2ef28e99c0cfc20735b693cb8b2350fe8aceca2d0f393")
    spk = slashing_change_script_pubkey(staker, 1008)
    assert spk[:2] == b"\x51\x20" and len(spk) == 34
    assert spk != unbonding_script_pubkey(staker, 1008, b"\x00" * 32)


@pytest.mark.parametrize("script", [
    b"",
    bytes.fromhex("20" + "11" * 32 + "ac"),  # a plain single-key CHECKSIG: not Babylon
    bytes.fromhex("20" + "11" * 32 + "ad" + "03ffff01" + "b2"),  # CSV above 16 bits
    bytes.fromhex("20" + "11" * 32 + "ad" + "0300fa00" + "b1"),  # CLTV, not CSV
    bytes.fromhex("20" + "11" * 32 + "ad" + "04" + "00fa0000" + "b2"),  # non-minimal push
])
def test_look_alike_leaves_are_not_babylon(script: bytes) -> None:
    assert parse_leaf(script) is None
