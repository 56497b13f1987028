"""The Core DAO scenario builders make what the adapter reads and what consensus accepts.

`regtest.verify.verify_tx` does not check CLTV scripts, so the redeem signatures are
checked here directly against the BIP143 (P2WSH) and legacy (P2SH) digests, together with
the rest of what BIP65 asks of the spend (nLockTime kind and value, nSequence, finality).
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import Event, NewPosition, Rejected
from adapters.coredao.adapter import analyse_tx
from adapters.coredao.decode import LstStake, Stake, decode_payload, extract_payload
from adapters.coredao.scripts import parse_cltv_script
from indexer.chain.block import parse_tx
from regtest.build import REGTEST_GENESIS_TIME, Transaction, TxInput, TxOutput
from regtest.keys import Key, hash160, is_low_s, sha256, verify_ecdsa
from regtest.protocols import ProtocolContext, get_builder
from regtest.protocols.coredao import (
    CLTV_SEQUENCE,
    block_time,
    lock_from_args,
    median_time_past,
)
from regtest.scripts import multisig, p2wpkh, p2wsh, pushed_data, tokenize
from regtest.sighash import legacy_sighash, segwit_v0_sighash
from regtest.sign import Prevout
from regtest.verify import verify_tx
from regtest.wallet import Wallet

PARAMS = {"coredao": {"chain_id": 1116, "start_height": 0}}
T_LOCK = REGTEST_GENESIS_TIME + 600 * 115
VALIDATOR = "0x" + "11" * 20
MS_KEYS = ["ms-1", "ms-2", "ms-3"]


class Env:
    """A wallet with unconfirmed funding coins and a resolver for the txs built here."""

    def __init__(self) -> None:
        self.wallet = Wallet()
        self.outputs: dict[str, Prevout] = {}
        self.spent: dict[tuple[str, int], TxOutput] = {}
        fund = Transaction(inputs=[TxInput("aa" * 32, 0)], outputs=[
            TxOutput(10_000_000_000, self.wallet.funding_script),
            TxOutput(200_000_000, p2wpkh(Key.from_label("bob").pubkey)),
            TxOutput(300_000_000, p2wsh(multisig(2, [Key.from_label(k).pubkey
                                                     for k in MS_KEYS]))),
        ])
        self.wallet.add_key(Key.from_label("bob"))
        keys = [Key.from_label(k) for k in MS_KEYS]
        self.wallet.add_multisig(multisig(2, [k.pubkey for k in keys]), keys[:2])
        self.record("fund", fund)

    def record(self, name: str, tx: Transaction) -> None:
        self.wallet.add_pending(tx)
        for n, out in enumerate(tx.outputs):
            self.outputs[f"{name}:{n}"] = Prevout(tx.txid(), n, out.value, out.script_pubkey)
            self.spent[(tx.txid(), n)] = out

    def ctx(self, next_height: int = 112) -> ProtocolContext:
        return ProtocolContext(self.wallet, PARAMS, next_height, self.outputs.__getitem__)

    def build(self, builder: str, args: dict[str, Any], name: str,
              next_height: int = 112) -> Transaction:
        tx = get_builder("coredao", builder)(self.ctx(next_height), args).tx
        self.record(name, tx)
        return tx

    def spent_by(self, tx: Transaction) -> list[TxOutput]:
        return [self.spent[(i.prev_txid, i.prev_vout)] for i in tx.inputs]


SHAPES: list[dict[str, Any]] = [
    {"shape": "pubkey_hash", "key": "alice"},
    {"shape": "pubkey", "key": "bob", "payload": "timelock", "inputs": ["fund:1"]},
    {"shape": "multisig", "keys": MS_KEYS, "m": 2, "payload": "timelock",
     "inputs": ["fund:2"]},
]


def _lock_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k in ("shape", "key", "keys", "m")}


@pytest.mark.parametrize("output", ["p2wsh", "p2sh"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: str(s["shape"]))
def test_stake_is_found_by_the_adapter_and_its_redeem_is_signed(
        shape: dict[str, Any], output: str) -> None:
    env = Env()
    args = {**shape, "output": output, "value": 50_000_000, "lock_time_of_height": 115,
            "validator": VALIDATOR}
    stake_tx = env.build("stake", args, "stake")
    verify_tx(stake_tx, env.spent_by(stake_tx))  # the wallet's own inputs
    records = analyse_tx(parse_tx(stake_tx.serialize()), 1116)
    pos, ev = records
    assert isinstance(pos, NewPosition) and isinstance(ev, Event)
    lock = lock_from_args({**_lock_args(shape), "locktime": T_LOCK})
    assert (pos.vout, pos.value_sat) == (0, 50_000_000)
    assert pos.data["redeem_script"] == lock.script.hex()
    assert pos.data["output_type"] == output and pos.data["validator"] == VALIDATOR
    assert pos.data["unlock_time"] == T_LOCK and pos.data["core_format"] is True
    assert pos.data["script_source"] == ("rebuilt" if "payload" in shape else "payload")

    # MTP at height 122 is block 116's time, the first past block 115's.
    redeem = env.build("redeem", {**_lock_args(shape), "lock_time_of_height": 115,
                                  "stake": "stake:0", "to": "alice-out"}, "redeem", 122)
    _check_cltv_spend(redeem, lock.script, T_LOCK, 50_000_000, output,
                      [k.pubkey for k in lock.signers])
    assert redeem.outputs == [TxOutput(49_999_000, p2wpkh(Key.from_label("alice-out").pubkey))]


def _check_cltv_spend(tx: Transaction, script: bytes, lock: int, amount: int, output: str,
                      signers: list[bytes]) -> None:
    """What a script interpreter would check of a spend of `script`, without being one."""
    (txin,) = tx.inputs
    assert tx.locktime >= lock and (tx.locktime >= 500_000_000) == (lock >= 500_000_000)
    assert txin.sequence == CLTV_SEQUENCE < 0xFFFFFFFF
    if output == "p2wsh":
        assert txin.script_sig == b""
        stack = txin.witness
        digest = segwit_v0_sighash(tx, 0, script, amount, 1)
    else:
        assert txin.witness == []
        assert all(op <= 0x4E for op, _ in tokenize(txin.script_sig))  # push-only
        stack = pushed_data(txin.script_sig)
        digest = legacy_sighash(tx, 0, script, 1)
    assert stack[-1] == script
    parsed = parse_cltv_script(script)
    assert parsed is not None and parsed.locktime == lock
    items = stack[:-1]
    if parsed.kind == "multisig":
        assert items[0] == b""  # NULLDUMMY
        sigs = items[1:]
        assert len(sigs) == parsed.m
        keys = list(parsed.pubkeys)
        for sig in sigs:  # in script order, as CHECKMULTISIG walks them
            while keys and not verify_ecdsa(keys[0], sig[:-1], digest):
                keys.pop(0)
            assert keys, "multisig signature matches no remaining key"
            keys.pop(0)
    elif parsed.kind == "pubkey_hash":
        sig, pubkey = items
        assert hash160(pubkey) == parsed.pubkey_hash and pubkey in signers
        sigs = [sig]
        assert verify_ecdsa(pubkey, sig[:-1], digest)
    else:
        (sig,) = items
        sigs = [sig]
        assert verify_ecdsa(parsed.pubkeys[0], sig[:-1], digest)
    for sig in sigs:
        assert sig[-1] == 1 and is_low_s(sig[:-1])


def test_height_lock_redeem_waits_for_the_block_after_the_lock() -> None:
    env = Env()
    args = {"shape": "pubkey_hash", "key": "alice", "locktime": 118, "output": "p2sh"}
    env.build("stake", {**args, "value": 40_000_000}, "stake")
    with pytest.raises(ValueError, match="not passed"):
        env.build("redeem", {**args, "stake": "stake:0"}, "early", 118)
    tx = env.build("redeem", {**args, "stake": "stake:0"}, "redeem", 119)
    lock = lock_from_args(args)
    _check_cltv_spend(tx, lock.script, 118, 40_000_000, "p2sh", [lock.signers[0].pubkey])
    assert tx.locktime == 118


def test_time_lock_redeem_waits_for_the_median_time_past() -> None:
    assert median_time_past(122) == block_time(116) > T_LOCK >= median_time_past(121)
    env = Env()
    args = {"shape": "pubkey_hash", "key": "alice", "lock_time_of_height": 115}
    env.build("stake", {**args, "value": 1_000_000}, "stake")
    with pytest.raises(ValueError, match="median time past"):
        env.build("redeem", {**args, "stake": "stake:0"}, "early", 121)
    with pytest.raises(ValueError, match="does not satisfy"):
        env.build("redeem", {**args, "stake": "stake:0", "locktime_override": 1000}, "x", 200)
    with pytest.raises(ValueError, match="does not pay"):
        env.build("redeem", {**args, "key": "bob", "stake": "stake:0"}, "y", 200)


def test_payloads_decode_as_written() -> None:
    env = Env()
    tx = env.build("stake", {"locktime": 5000, "value": 10_000, "validator": VALIDATOR,
                             "delegator": "0x" + "22" * 20, "relayer_fee": 7,
                             "chain_id": 1115}, "s")
    decoded = decode_payload(extract_payload(tx.outputs[1].script_pubkey))
    assert isinstance(decoded, Stake)
    assert (decoded.chain_id, decoded.fee) == (1115, 7)
    assert decoded.delegator == bytes.fromhex("22" * 20)
    assert decoded.validator == bytes.fromhex("11" * 20)
    assert decoded.redeem_script == lock_from_args({"locktime": 5000}).script
    assert tx.outputs[0].script_pubkey == b"\x00\x20" + sha256(decoded.redeem_script)
    (rej,) = analyse_tx(parse_tx(tx.serialize()), 1116)
    assert isinstance(rej, Rejected) and "wrong chain id 1115" in rej.reason

    lst = env.build("lst_stake", {"value": 30_000, "delegator": "0x" + "33" * 20}, "lst")
    decoded_lst = decode_payload(extract_payload(lst.outputs[1].script_pubkey))
    assert isinstance(decoded_lst, LstStake) and decoded_lst.chain_id == 1116
    (ev,) = analyse_tx(parse_tx(lst.serialize()), 1116)
    assert isinstance(ev, Event) and ev.kind == "stake" and ev.amount_sat is None


def test_mismatch_pays_elsewhere_and_is_rejected() -> None:
    env = Env()
    tx = env.build("stake", {"locktime": 5000, "value": 10_000, "mismatch": True}, "s")
    assert tx.outputs[0].script_pubkey == p2wpkh(Key.from_label("core-staker").pubkey)
    (rej,) = analyse_tx(parse_tx(tx.serialize()), 1116)
    assert isinstance(rej, Rejected) and "no output pays" in rej.reason


def test_full_script_payload_too_long_for_op_return_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds 80"):
        Env().build("stake", {"shape": "pubkey", "locktime": 5000, "value": 1}, "s")
