"""Every real vector in shared/data/babylon/vectors classified as its `expected` says."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.babylon import BabylonAdapter
from indexer.chain.block import parse_tx
from tests.conftest import SHARED_DATA, load_json


def _index() -> list[dict[str, Any]]:
    path = SHARED_DATA / "babylon" / "vectors" / "INDEX.json"
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = load_json("babylon", "vectors", "INDEX.json")
    return entries


def _by_kind(*kinds: str) -> list[str]:
    files = [e["file"] for e in _index() if e["kind"] in kinds]
    return files or ["missing"]  # one skipped case instead of an empty parametrisation


def _load(file: str) -> tuple[dict[str, Any], str, BabylonAdapter]:
    if file == "missing":
        pytest.skip("shared babylon vectors not found")
    v: dict[str, Any] = load_json("babylon", *file.split("/"))
    chain = "main" if v["network"] == "mainnet" else v["network"]
    return v, chain, BabylonAdapter.from_params(chain, None)


def test_the_index_lists_all_21_vectors() -> None:
    if not _index():
        pytest.skip("shared babylon vectors not found")
    assert len(_index()) == 21


@pytest.mark.parametrize("file", _by_kind("staking"))
def test_staking_vectors(file: str) -> None:
    v, chain, a = _load(file)
    e = v["expected"]
    tx = parse_tx(bytes.fromhex(v["hex"]))
    assert tx.txid == v["txid"]
    found = a.inspect_at(tx, chain, e.get("inclusion_height"))
    assert [r["kind"] for r in found] == ["stake"]
    r = found[0]
    assert r["protocol"] == "babylon"
    assert r["staker_pk"] == e["staker_pk"]
    assert r["finality_provider_pk"] == e["finality_provider_pk"]
    assert r["staking_time"] == e["staking_time"]
    assert r["staking_vout"] == e["staking_output_index"]
    assert r["op_return_vout"] == e["op_return_output_index"]
    assert r["value_sat"] == e["staking_value"]
    assert r["staking_script_pubkey"] == e["staking_output_script_pubkey"]
    assert r["tag"] == e["tag"]
    assert r["valid"] is e["valid"] is True
    assert r["params_version"] == e["params_version"]
    assert e["params_version"] in r["params_versions_possible"]
    if e.get("is_overflow") is not None and r["is_overflow"] is not None:
        assert r["is_overflow"] == e["is_overflow"]
    # Without a height the version comes from nLockTime or the covenant set; it always
    # lists the right one among the possible versions.
    alone = a.inspect(tx, chain)
    assert alone[0]["staker_pk"] == e["staker_pk"]
    assert e["params_version"] in alone[0]["params_versions_possible"]
    if alone[0]["params_version_basis"] == "locktime":
        assert alone[0]["params_version"] == e["params_version"]


@pytest.mark.parametrize("file", _by_kind("unbonding"))
def test_mainnet_unbondings_recover_the_stake(file: str) -> None:
    v, chain, a = _load(file)
    e = v["expected"]
    tx = parse_tx(bytes.fromhex(v["hex"]))
    found = a.inspect(tx, chain)
    assert [r["kind"] for r in found] == ["unbond"]
    r = found[0]
    assert (r["spent_txid"], r["spent_vout"]) == (e["spent_outpoint"]["txid"],
                                                   e["spent_outpoint"]["vout"])
    assert r["valid"] is True, r["reason"]
    assert r["staker_pk"] == e["staker_pk"]
    assert r["staking_time"] == e["recovered_staking_time"]
    assert r["finality_provider_pk"] == e["recovered_finality_provider_pk"]
    assert r["finality_provider_moniker"] == e["recovered_finality_provider_moniker"]
    assert r["spent_script_pubkey"] == e["reconstructed_spent_script_pubkey"]
    assert r["unbonding_time"] == e["unbonding_time"]
    assert r["unbonding_value_sat"] == e["unbonding_output_value"]
    assert r["witness_items"] == e["witness_items"]
    assert r["covenant_signatures"] == e["covenant_signatures_present"]
    assert r["creates"] == [{"vout": 0, "value_sat": e["unbonding_output_value"],
                             "status": "unbonding", "kind": "unbonding"}]
    assert tx.outputs[0].script_pubkey.hex() == e["unbonding_output_script_pubkey"]
    # The tx alone does not state the stake's amount; the fee of each version implies one.
    assert r["amount_known"] is False
    assert r["implied_stake_sat_by_fee"] == e["implied_staking_value_by_fee"]


@pytest.mark.parametrize("file", _by_kind("staking_no_opreturn", "unbonding_unsigned"))
def test_phase2_txs_without_op_return_or_witness_are_not_recognisable_alone(file: str) -> None:
    """§4: with no OP_RETURN and no witness nothing ties these txs to Babylon."""
    v, chain, a = _load(file)
    tx = parse_tx(bytes.fromhex(v["hex"]))
    assert tx.txid == v["txid"]
    assert a.inspect(tx, chain) == []


@pytest.mark.parametrize("file", _by_kind("staking"))
def test_staking_vectors_mean_nothing_on_another_chain(file: str) -> None:
    v, chain, a = _load(file)
    other = "signet" if chain == "main" else "main"
    assert a.inspect(parse_tx(bytes.fromhex(v["hex"])), other) == []
    assert a.inspect(parse_tx(bytes.fromhex(v["hex"])), "regtest") == []
