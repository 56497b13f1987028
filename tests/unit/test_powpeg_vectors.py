"""`inspect` on every real Rootstock vector matches the vector's `expected` fields."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.powpeg import PowpegAdapter
from indexer.chain.block import parse_tx
from tests.conftest import load_json, shared_path

TEMPLATES = {"standard multisig": {"multisig"}, "other": set(),
             "ERP (OP_NOTIF default OP_ELSE csv OP_CSV OP_DROP emergency OP_ENDIF)":
             {"erp", "erp-nonstandard"}}


def _vector_names() -> list[str]:
    try:
        folder = shared_path("rootstock", "vectors")
    except pytest.skip.Exception:
        return []
    return sorted(p.name for p in folder.glob("*.json"))


def _inspect(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    vec = load_json("rootstock", "vectors", name)
    chain = "main" if vec["network"] == "mainnet" else "test"
    tx = parse_tx(bytes.fromhex(vec["hex"]))
    assert tx.txid == vec["expected"]["txid"]
    return vec, PowpegAdapter.from_params(chain, None).inspect(tx, chain)


def test_all_fifteen_vectors_are_covered() -> None:
    folder = shared_path("rootstock", "vectors")
    assert len(list(folder.glob("*.json"))) == len(_vector_names()) == 15


@pytest.mark.parametrize("name", _vector_names())
def test_inspect_matches_expected(name: str) -> None:
    vec, found = _inspect(name)
    exp = vec["expected"]
    kind = vec["kind"]
    if kind.startswith("pegin-flyover") or "testfed" in kind:
        # A flyover deposit pays a per-quote address; a test federation is not the Powpeg.
        assert found == []
        return
    assert len(found) == 1
    got = found[0]
    assert got["protocol"] == "powpeg"
    if kind.startswith("pegin"):
        _check_pegin(got, exp)
    else:
        _check_spend(got, exp, "migration" if "migration" in kind else "pegout")


def _check_pegin(got: dict[str, Any], exp: dict[str, Any]) -> None:
    assert got["kind"] == "pegin"
    assert got["amount_sat"] == exp["amount_to_federation_sat"]
    assert [(o["vout"], o["address"]) for o in got["federation_outputs"]] == [
        (o["n"], o["address"]) for o in exp["federation_outputs"]]
    assert got["protocol_version"] == exp["protocol_version"]
    assert got["rsk_destination"] == exp["rsk_destination"]
    assert got["btc_refund_address"] == exp["btc_refund_address"]
    sender = exp["sender"]
    assert got["sender"]["type"] == sender["type"]
    assert got["sender"]["btc_address"] == sender["btc_address"]
    assert got["sender"]["derived_rsk_address"] == sender["derived_rsk_address"]
    if "rskt" in exp:
        assert got["rskt"]["payload_hex"] == exp["rskt"]["payload_hex"]
        assert got["rskt"]["rsk_destination"] == exp["rskt"]["rsk_destination"]
        assert got["rskt"]["refund_address"] == exp["rskt"].get("refund_address")
    # Every pegin vector is registered under current rules.
    assert exp["expected_bridge_action_current_rules"].startswith("REGISTER")
    assert got["credited"] is True and got["reason"] is None


def _check_spend(got: dict[str, Any], exp: dict[str, Any], kind: str) -> None:
    assert got["kind"] == kind
    assert got["spending_federations"] == exp["spending_federations"]
    assert got["unsigned_tx_hash"] == exp["unsigned_tx_hash_as_logged_by_bridge"]
    _check_inputs(got["inputs"], exp["inputs"])
    outputs = exp["outputs"]
    change = exp["change_outputs_to_spending_federation"]
    kept = [o["vout"] for o in got["kept_outputs"]]
    if kind == "migration":
        assert got["migration_from"] == exp["migration_from"]
        assert got["migration_to"] == exp["migration_to"]
        assert kept == exp["outputs_to_other_federations"]
        assert got["amount_sat"] == sum(o["value_sat"] for o in outputs)
        assert got["user_outputs"] == []
    else:
        assert kept == change
        users = [o for o in outputs if o["n"] not in change]
        assert [(u["vout"], u["address"], u["value_sat"]) for u in got["user_outputs"]] == [
            (u["n"], u["address"], u["value_sat"]) for u in users]
        assert got["amount_sat"] == sum(u["value_sat"] for u in users)


def _check_inputs(got: list[dict[str, Any]], exp: list[dict[str, Any]]) -> None:
    assert [g["vin"] for g in got] == [e["n"] for e in exp]
    for g, e in zip(got, exp, strict=True):
        assert g["federation_address"] == e["federation_address"]
        assert g["spent_address"] == e["spent_address"]
        assert g["redeem_location"] == e["redeem_location"]
        assert g["threshold"] == e["threshold"]
        assert g["signatures"] == e["signatures"]
        assert g["flyover_derivation_hash"] == e["flyover_derivation_hash"]
        assert g["template"] in TEMPLATES[e["redeem_template"]]


def test_flyover_deposit_is_revealed_by_its_spend() -> None:
    """Testnet d3356587:0 is unidentifiable alone; migration da818033 reveals it."""
    deposit = load_json("rootstock", "vectors",
                        "testnet-pegin-flyover-d3356587d46c.json")["expected"]
    _, found = _inspect("testnet-migration-with-flyover-input-da818033d9c7.json")
    (dep,) = found[0]["flyover_deposits"]
    assert (dep["deposit_txid"], dep["deposit_vout"]) == (deposit["txid"],
                                                          deposit["flyover_deposit_output"])
    assert dep["derivation_hash"] == deposit["flyover_derivation_hash_revealed_later"]
    assert dep["federation"] == deposit["flyover_federation"]
    assert dep["deposit_address"] == deposit["federation_outputs"][0]["address"]


def test_testfed_flyover_spend_decodes_but_is_not_powpeg() -> None:
    """a4d76b62: P2SH-P2WSH ERP witness layout decodes; its keys are not the mainnet ERP set."""
    from adapters.powpeg.federation import read_spend
    from adapters.powpeg.params import describe

    vec = load_json("rootstock", "vectors",
                    "mainnet-segwit-erp-flyover-spend-testfed-a4d76b6211b0.json")
    exp = vec["expected"]["inputs"][0]
    sp = read_spend(parse_tx(bytes.fromhex(vec["hex"])), 0)
    assert sp is not None
    assert sp.location == exp["redeem_location"] == "witness"
    assert describe(sp.spent_spk, "main") == exp["spent_address"]
    assert describe(sp.federation_spk, "main") == exp["federation_address"]
    assert sp.redeem.threshold == exp["threshold"] and sp.signatures == exp["signatures"]
    assert sp.redeem.flyover_hash is not None
    assert sp.redeem.flyover_hash.hex() == exp["flyover_derivation_hash"]
