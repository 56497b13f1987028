"""Every Stacks/sBTC vector in ../shared/data/stacks classified as its `expected` says."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.stacks import StacksAdapter
from adapters.stacks.inspect import deposit_output_matches, op_rejection
from adapters.stacks.params import StacksParams
from adapters.stacks.sbtc import (
    build_deposit_script,
    build_reclaim_script,
    deposit_taproot,
    parse_deposit_script,
    parse_reclaim_script,
    peg_script_for_key,
)
from indexer.chain.block import parse_tx
from tests.conftest import SHARED_DATA, load_json

VECTORS = sorted(p.stem for p in (SHARED_DATA / "stacks" / "vectors").glob("*.json"))
SCRIPT_VECTORS = sorted(p.stem for p in (SHARED_DATA / "stacks" / "script_vectors")
                        .glob("*.json"))
ADAPTER = StacksAdapter.from_params("main", None)

_KIND = {"leader_block_commit": "block_commit", "leader_key_register": "leader_key_register",
         "sbtc_sweep": "sbtc_sweep", "sbtc_reclaim": "sbtc_reclaim"}


def _vector(name: str) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    v = load_json("stacks", "vectors", f"{name}.json")
    tx = parse_tx(bytes.fromhex(v["hex"]))
    assert tx.txid == v["txid"]
    return v, ADAPTER.inspect(tx, v["network"]), tx


def test_vectors_present() -> None:
    if not VECTORS:
        pytest.skip(f"no vectors under {SHARED_DATA / 'stacks'}")
    assert len(VECTORS) >= 18 and len(SCRIPT_VECTORS) >= 13


@pytest.mark.parametrize("name", VECTORS)
def test_vector_kind(name: str) -> None:
    v, found, tx = _vector(name)
    kinds = [f["kind"] for f in found]
    if v["kind"] == "negative":
        assert kinds == []
        reason = op_rejection(ADAPTER.params, tx, v["network"])
        if v["expected"].get("is_stacks_op") is False:
            # A wrong opcode is not an op at all; it still says why when asked.
            assert reason is not None and ("opcode" in reason or "disabled" in reason)
        else:
            assert reason, "a negative Stacks op must be rejected with a reason"
    elif v["kind"] == "sbtc_deposit":
        # Nothing marks a deposit on chain until it is spent (stacks.md §3.1).
        assert kinds == []
    else:
        assert kinds[0] == _KIND[v["kind"]]


@pytest.mark.parametrize("name", [n for n in VECTORS if "commit" in n])
def test_commit_fields(name: str) -> None:
    v, found, _ = _vector(name)
    e = v["expected"]
    if v["kind"] == "negative":
        if "payload_len_after_opcode" in e:
            assert "76 bytes" in (op_rejection(ADAPTER.params, _vector(name)[2], "test") or "")
        return
    c = found[0]
    for key in ("block_header_hash", "new_seed", "parent_block_ptr", "parent_vtxindex",
                "key_block_ptr", "key_vtxindex", "memo_byte", "burn_parent_modulus",
                "epoch_marker", "magic", "opcode"):
        assert c[key] == e[key], key
    assert c["burn_fee_sat"] == e["burn_fee_sats"]
    assert c["op_return_sat"] == e["op_return_output_value_sats"]
    assert c["chained_input"] == e["chained_input"]
    assert [(o["vout"], o["value_sat"], o["script_type"], o["address"], o["script_pubkey"],
             o["burn"]) for o in c["commit_outputs"]] == [
        (o["vout"], o["value_sats"], o["script_type"], o["address"], o["script_pubkey"],
         o["is_burn_hash160_zero"]) for o in e["commit_outputs"]]
    ch = e["change_output"]
    assert (c["change_output"]["vout"], c["change_output"]["value_sat"],
            c["change_output"]["address"]) == (ch["vout"], ch["value_sats"], ch["address"])
    assert c["sender"] == ch["address"]
    burned = sum(o["value_sats"] for o in e["commit_outputs"] if o["is_burn_hash160_zero"])
    assert c["burned_sat"] == burned and c["paid_sat"] == e["burn_fee_sats"] - burned


@pytest.mark.parametrize("name", [n for n in VECTORS if n.startswith("mainnet_commit")])
def test_commit_at_inferred_height(name: str) -> None:
    """With the block height, cycle and phase come out as the research inferred them."""
    from adapters.stacks import pox

    v, _, _ = _vector(name)
    inf = v["expected"]["inferred"]
    p = StacksParams.builtin("main")
    h = inf["block_height_guess"]
    assert pox.reward_cycle(p, h) == inf["reward_cycle"]
    assert pox.cycle_offset(p, h) == inf["index_in_cycle"]
    assert pox.phase(p, h) == inf["phase_2x_rule"]


def test_sunset_burn_vector_meets_the_requirement() -> None:
    from adapters.stacks.commit import decode_commit
    from adapters.stacks.ops import check_outputs, read_frame

    _, _, tx = _vector("mainnet_commit_2_05_sunset_burn")
    p = StacksParams.builtin("main")
    frame = read_frame(tx, (p.magic,))
    assert frame is not None
    c = decode_commit(p, tx, frame, check_outputs(tx, False), 777_714, "main")
    # cycle 53 pays from 777,351: 388 * (777,351 - 766,050) // 400,000 = 10 sat required
    assert c["sunset_burn_required_sat"] == 388 * 11_301 // 400_000
    assert c["sunset_burn_sat"] == 180 and c["valid"], c["invalid_reasons"]
    assert c["on_time"] and c["epoch"] == "2.05" and c["reward_cycle"] == 53


@pytest.mark.parametrize("name", [n for n in VECTORS if "keyreg_valid" in n])
def test_key_register_fields(name: str) -> None:
    v, found, _ = _vector(name)
    e, k = v["expected"], found[0]
    assert (k["consensus_hash"], k["vrf_public_key"], k["memo"]) == (
        e["consensus_hash"], e["vrf_public_key"], e["memo"])


def test_sweep_vector() -> None:
    v, found, _ = _vector("sbtc_sweep_mainnet_v0_opreturn")
    e = v["expected"]
    sweep, deposit = found[0], found[1]
    assert sweep["peg_output"] == {"vout": 0, "value_sat": e["new_peg_output"]["value_sats"],
                                   "address": e["new_peg_output"]["address"]}
    assert sweep["peg_input"] == {"txid": e["signer_input"]["prev_txid"], "vout": 0}
    assert sweep["marker"]["version"] == e["op_return"]["version"]
    assert sweep["marker"]["num_deposits"] == e["op_return"]["v0_num_deposits"]
    assert sweep["marker"]["signer_bitmap"] == e["op_return"]["v0_signer_bitmap_hex"]
    assert sweep["signers_peg_addresses"] == [e["signer_input"]["prev_address"]]
    d = e["deposit_inputs"][0]
    assert (deposit["deposit_txid"], deposit["deposit_vout"], deposit["deposit_script"]) == (
        d["prev_txid"], d["prev_vout"], d["deposit_script_revealed"])
    # the deposit it sweeps is the key-2 deposit vector: same address, recipient, fee
    key2 = load_json("stacks", "vectors", "sbtc_deposit_mainnet_key2.json")["expected"]
    assert deposit["deposit_address"] == key2["deposit_address"]
    assert deposit["recipient"] == key2["recipient"]
    assert deposit["max_fee_sat"] == key2["max_fee_sats"]
    # value balance: old peg + deposit - fee = new peg
    assert (e["signer_input"]["prev_value_sats"] + d["prev_value_sats"] - e["fee_sats"]
            == sweep["peg_output"]["value_sat"])


def test_reclaim_vector() -> None:
    v, found, _ = _vector("sbtc_reclaim_mainnet")
    e, r = v["expected"], found[0]
    assert (r["deposit_txid"], r["deposit_vout"]) == (e["spent_deposit"]["txid"],
                                                      e["spent_deposit"]["vout"])
    assert r["deposit_address"] == e["spent_deposit"]["address"]
    assert r["reclaim_script"] == e["reclaim_script_revealed"]
    assert r["lock_time"] == 16 == e["input_sequence"]


@pytest.mark.parametrize("name", ["sbtc_deposit_mainnet_key1", "sbtc_deposit_mainnet_key2"])
def test_deposit_vectors(name: str) -> None:
    v, _, tx = _vector(name)
    e = v["expected"]
    ds, rs = bytes.fromhex(e["deposit_script"]), bytes.fromhex(e["reclaim_script"])
    m = deposit_output_matches(tx, e["deposit_vout"], ds, rs)
    assert m is not None
    assert m["deposit_address"] == e["deposit_address"]
    assert m["output_key"] == e["computed_output_key"]
    assert m["amount_sat"] == e["amount_sats"]
    assert (m["max_fee_sat"], m["recipient"], m["reclaim_lock_time"]) == (
        e["max_fee_sats"], e["recipient"], e["reclaim_csv_blocks"])
    assert m["signers_peg_address"] == e["implied_peg_address_for_that_key"]
    assert m["signers_peg_address"] in StacksParams.builtin("main").sbtc_peg_addresses
    # a different reclaim script is a different address: no match
    assert deposit_output_matches(tx, e["deposit_vout"], ds, build_reclaim_script(1, b"")) is None


@pytest.mark.parametrize("name", SCRIPT_VECTORS)
def test_script_vector_rebuilt(name: str) -> None:
    v = load_json("stacks", "script_vectors", f"{name}.json")
    i, m = v["inputs"], v["intermediate"]
    ds = build_deposit_script(i["max_fee"], i["recipient_principal"],
                              bytes.fromhex(i["signers_public_key_xonly_hex"]))
    rs = build_reclaim_script(i["lock_time"], bytes.fromhex(i["reclaim_user_script_hex"]))
    assert ds.hex() == m["deposit_script_hex"]
    assert rs.hex() == m["reclaim_script_hex"]
    t = deposit_taproot(ds, rs)
    assert t.deposit_leaf_hash.hex() == m["deposit_tapleaf_hash_hex"]
    assert t.reclaim_leaf_hash.hex() == m["reclaim_tapleaf_hash_hex"]
    assert t.merkle_root.hex() == m["merkle_root_hex"]
    assert t.output_key.hex() == m["taproot_output_key_xonly_hex"]
    assert t.script_pubkey.hex() == v["expected"]["script_pubkey_hex"]
    leaf = parse_deposit_script(ds)
    assert leaf is not None
    assert (leaf.max_fee, leaf.recipient) == (i["max_fee"], i["recipient_principal"])
    reclaim = parse_reclaim_script(rs)
    assert reclaim is not None and reclaim.lock_time == i["lock_time"] & 0xFFFF


def test_peg_addresses_derive_from_deposit_keys() -> None:
    """stacks.md §3.3: key f898… gives peg #1, key d8c4… gives peg #2."""
    p = StacksParams.builtin("main")
    assert peg_script_for_key(bytes.fromhex(
        "f898f8a6ddb86dd4608dd168355ec6135fe2839222240c01942e8e7e50dd4c89")) \
        == p.sbtc_peg_scripts[0]
    assert peg_script_for_key(bytes.fromhex(
        "d8c4344861fc7590fd812c24884a3bfd9374d8ba865a787ff53c9060020aa967")) \
        == p.sbtc_peg_scripts[1]


def test_non_minimal_or_lookalike_deposit_scripts_rejected() -> None:
    # the generator's x coordinate: a valid x-only key
    key = bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    good = build_deposit_script(80_000, "SP000000000000000000002Q6VF78", key)
    assert parse_deposit_script(good) is not None
    # a signers key that is not on the curve makes an unspendable leaf, not a deposit
    off_curve = build_deposit_script(80_000, "SP000000000000000000002Q6VF78", b"\x11" * 32)
    assert parse_deposit_script(off_curve) is None
    # same data behind OP_PUSHDATA1 (non-minimal): validators reject it, so do we
    assert parse_deposit_script(b"\x4c\x1e" + good[1:]) is None
    assert parse_deposit_script(good[:-1] + b"\xad") is None  # CHECKSIGVERIFY
    assert parse_deposit_script(good[:9] + b"\x07" + good[10:]) is None  # not a principal
    assert parse_reclaim_script(b"\x01\x05\xb2") is None  # 5 must be OP_5
    assert parse_reclaim_script(bytes.fromhex("03000040b2")) is None  # time-based flag


