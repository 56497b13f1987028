"""The Babylon scenario builders make transactions a real bitcoind would accept.

`regtest.verify.verify_tx` checks that each taproot script-path signature is valid for
*some* key of the leaf, but not that the witness satisfies the leaf: signature order,
empty covenant slots, the quorum, CHECKSEQUENCEVERIFY. `run_leaf` below executes the few
tapscript opcodes Babylon's leaves use (BIP342 semantics: CHECKSIG, CHECKSIGVERIFY,
CHECKSIGADD, NUMEQUAL(VERIFY), CSV, clean stack), with every signature checked by
coincurve against the BIP341 script-path sighash. Every Babylon input of both scenarios
is run through it, and every CSV spend is checked against the confirmations its prevout
really had when the spend was mined (BIP68).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from adapters.babylon.scripts import NUMS_X, build_staking
from regtest.build import Transaction, TxOutput
from regtest.harness import Harness
from regtest.keys import Key, verify_schnorr
from regtest.node import TestNode
from regtest.protocols import ProtocolContext
from regtest.protocols.babylon import BUILDERS, MAINNET_SLASHING_SCRIPT, StakeShape
from regtest.scenario import Replayer, load_scenario
from regtest.sighash import taproot_sighash
from regtest.sign import Prevout
from regtest.taproot import TapLeaf
from regtest.verify import verify_tx
from regtest.wallet import Wallet

SCENARIOS = ("babylon_lifecycle", "babylon_reorg", "babylon_spends")
PARAMS = load_scenario("babylon_lifecycle").params
SEQUENCE_DISABLE = 1 << 31
SEQUENCE_TYPE_TIME = 1 << 22


class ScriptFailure(AssertionError):
    """The witness does not satisfy the leaf."""


def _num(item: bytes) -> int:
    if len(item) > 4:
        raise ScriptFailure("script number longer than 4 bytes")
    if not item:
        return 0
    n = int.from_bytes(item, "little")
    if item[-1] & 0x80:
        return -(n & ~(0x80 << 8 * (len(item) - 1)))
    return n


def _sig_ok(tx: Transaction, i: int, spent: list[TxOutput], leaf: TapLeaf, pk: bytes,
            sig: bytes) -> bool:
    """BIP342: an empty signature is a "no"; any other must verify or the script fails."""
    if not sig:
        return False
    if len(sig) not in (64, 65) or (len(sig) == 65 and sig[64] == 0):
        raise ScriptFailure("malformed schnorr signature")
    digest = taproot_sighash(tx, i, spent, sig[64] if len(sig) == 65 else 0, leaf.hash)
    if not verify_schnorr(pk, sig[:64], digest):
        raise ScriptFailure(f"signature for key {pk.hex()[:16]}... does not verify")
    return True


def run_leaf(tx: Transaction, i: int, spent: list[TxOutput]) -> TapLeaf:
    """Execute input `i`'s tapscript leaf on its witness; returns the leaf run."""
    *stack, script, control = tx.inputs[i].witness
    leaf = TapLeaf(script, control[0] & 0xFE)
    pc = 0
    while pc < len(script):
        op = script[pc]
        pc += 1
        if 1 <= op <= 0x4B:  # direct push
            stack.append(script[pc:pc + op])
            pc += op
        elif 0x51 <= op <= 0x60:
            stack.append(bytes([op - 0x50]))
        elif op in (0xAC, 0xAD):  # CHECKSIG, CHECKSIGVERIFY: <sig> <pk>
            pk, sig = stack.pop(), stack.pop()
            ok = _sig_ok(tx, i, spent, leaf, pk, sig)
            if op == 0xAD and not ok:
                raise ScriptFailure("CHECKSIGVERIFY failed")
            if op == 0xAC:
                stack.append(b"\x01" if ok else b"")
        elif op == 0xBA:  # CHECKSIGADD: <sig> <n> <pk>
            pk, n, sig = stack.pop(), _num(stack.pop()), stack.pop()
            total = n + int(_sig_ok(tx, i, spent, leaf, pk, sig))
            stack.append(total.to_bytes(4, "little").rstrip(b"\x00"))
        elif op in (0x9C, 0x9D):  # NUMEQUAL, NUMEQUALVERIFY
            equal = _num(stack.pop()) == _num(stack.pop())
            if op == 0x9D and not equal:
                raise ScriptFailure("NUMEQUALVERIFY failed")
            if op == 0x9C:
                stack.append(b"\x01" if equal else b"")
        elif op == 0xB2:  # CHECKSEQUENCEVERIFY (BIP112), blocks only here
            need, seq = _num(stack[-1]), tx.inputs[i].sequence
            if tx.version < 2 or seq & SEQUENCE_DISABLE or seq & SEQUENCE_TYPE_TIME:
                raise ScriptFailure("CSV needs tx version 2 and a block-based nSequence")
            if seq & 0xFFFF < need:
                raise ScriptFailure(f"nSequence {seq & 0xFFFF} below the CSV {need}")
        else:
            raise ScriptFailure(f"opcode {op:#x} is not in a babylon leaf")
    if len(stack) != 1 or not any(stack[0]):
        raise ScriptFailure(f"script ends with {len(stack)} items, not one true item")
    return leaf


def _is_babylon_input(tx: Transaction, i: int) -> bool:
    w = tx.inputs[i].witness
    return len(w) >= 3 and len(w[-1]) >= 33 and w[-1][1:33] == NUMS_X


class _Recording(Replayer):
    def __init__(self, harness: Harness, name: str) -> None:
        super().__init__(harness, load_scenario(name))
        self.built: list[tuple[str, Transaction]] = []

    def _record(self, name: str | None, tx: Transaction, labels: Mapping[str, int] = {},
                info: Mapping[str, Any] = {}) -> None:
        super()._record(name, tx, labels, info)
        self.built.append((name or "", tx))


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_babylon_input_satisfies_its_leaf(name: str) -> None:
    with TestNode(port=0) as node:
        harness = Harness(node.url)
        rec = _Recording(harness, name)
        result = rec.run()
        by_txid = {result.txids[n]: n for n in result.txids}
        checked: dict[str, int] = {}
        for tx_name, tx in rec.built:
            spent = harness.spent_outputs(tx)
            verify_tx(tx, spent)
            for i, txin in enumerate(tx.inputs):
                if not _is_babylon_input(tx, i):
                    continue
                leaf = run_leaf(tx, i, spent)
                checked[tx_name] = checked.get(tx_name, 0) + 1
                if leaf.script[-1] != 0xB2:
                    continue
                mined = result.tx_heights[tx_name]
                created = result.tx_heights[by_txid[txin.prev_txid]]
                assert mined is not None and created is not None
                # BIP68: a relative lock of n blocks needs the spend n blocks above the coin.
                assert mined - created >= txin.sequence & 0xFFFF, tx_name
        harness.rpc.close()
    want = {"babylon_lifecycle": {"u1", "sl3", "w1", "w3", "u5", "w2", "x4", "u6"},
            "babylon_reorg": {"ur2"},
            "babylon_spends": {"ua1", "sa1", "sq1", "wq2", "wc1", "wc2", "xe1", "we1"}}[name]
    assert set(checked) == want


# ------------------------------------------------------------ builders on fake prevouts

def _ctx(prevouts: Mapping[str, tuple[bytes, int]]) -> ProtocolContext:
    """A builder context (next height 120) whose named outputs are made-up prevouts."""
    outputs = {ref: Prevout("11" * 32, 0, value, spk) for ref, (spk, value) in prevouts.items()}
    return ProtocolContext(Wallet(), PARAMS, 120, outputs.__getitem__)


def _shape(staker: str = "staker-1", fp: str = "fp-1", time: int = 10) -> StakeShape:
    from adapters.babylon.params import parse_params

    pv = parse_params(PARAMS["babylon"]).versions[0]
    return StakeShape(Key.from_label(staker), Key.from_label(fp), time, pv)


ARGS = {"staker": "staker-1", "fp": "fp-1", "staking_time": 10}


def test_staking_output_is_the_adapters() -> None:
    shape = _shape()
    pv = shape.version
    spec = build_staking(shape.staker.xonly, (shape.fp.xonly,), 10, pv.covenant_pks,
                         pv.covenant_quorum)
    assert shape.staking.script_pubkey == spec.script_pubkey
    assert shape.staking.merkle_root == spec.root


def test_unbonding_witness_order_and_quorum() -> None:
    shape = _shape()
    ctx = _ctx({"s": (shape.staking.script_pubkey, 1_000_000)})
    built = BUILDERS["unbond"](ctx, {**ARGS, "outputs": ["s"],
                                     "covenants": ["covenant-1", "covenant-3"]})
    tx = built.tx
    spent = [TxOutput(1_000_000, shape.staking.script_pubkey)]
    assert (len(tx.inputs), len(tx.outputs)) == (1, 1)
    assert tx.version == 2 and tx.locktime == 0 and tx.inputs[0].sequence == 0xFFFFFFFF
    assert tx.outputs[0] == TxOutput(998_000, shape.unbonding.script_pubkey)
    w = tx.inputs[0].witness
    # 3 covenant slots (largest key first, one empty), staker sig, leaf, control block
    assert len(w) == 6 and w[-2] == shape.unbonding_leaf.script
    assert len(w[-1]) == 33 + 2 * 32
    assert sum(1 for x in w[:3] if x) == 2
    run_leaf(tx, 0, spent)
    # The order matters: swapping two covenant slots breaks the script.
    w[0], w[1], w[2] = w[2], w[1], w[0]
    with pytest.raises(ScriptFailure):
        run_leaf(tx, 0, spent)


def test_slash_signs_staker_fp_and_quorum() -> None:
    shape = _shape()
    ctx = _ctx({"s": (shape.staking.script_pubkey, 500_000)})
    tx = BUILDERS["slash"](ctx, {**ARGS, "outputs": ["s"], "slashed_sat": 50_000}).tx
    assert tx.outputs[0] == TxOutput(50_000, MAINNET_SLASHING_SCRIPT)
    assert tx.outputs[1] == TxOutput(449_000, shape.slashing_change.script_pubkey)
    assert len(tx.inputs[0].witness[-1]) == 33 + 32
    run_leaf(tx, 0, [TxOutput(500_000, shape.staking.script_pubkey)])


@pytest.mark.parametrize("kind", ["staking", "unbonding", "slashing_change"])
def test_withdraw_sets_the_csv_sequence(kind: str) -> None:
    shape = _shape()
    spk = {"staking": shape.staking, "unbonding": shape.unbonding,
           "slashing_change": shape.slashing_change}[kind].script_pubkey
    ctx = _ctx({"o": (spk, 100_000)})
    tx = BUILDERS["withdraw"](ctx, {**ARGS, "outputs": ["o"]}).tx
    want_seq = 10 if kind == "staking" else shape.version.unbonding_time
    assert tx.inputs[0].sequence == want_seq and tx.version == 2
    run_leaf(tx, 0, [TxOutput(100_000, spk)])
    tx.inputs[0].sequence = want_seq - 1
    with pytest.raises(ScriptFailure):
        run_leaf(tx, 0, [TxOutput(100_000, spk)])


def test_refuses_consensus_invalid_spends() -> None:
    shape = _shape()
    ctx = _ctx({"s": (shape.staking.script_pubkey, 100_000)})
    with pytest.raises(ValueError, match="quorum"):
        BUILDERS["unbond"](ctx, {**ARGS, "outputs": ["s"], "covenants": ["covenant-1"]})
    with pytest.raises(ValueError, match="not covenant keys"):
        BUILDERS["unbond"](ctx, {**ARGS, "outputs": ["s"], "covenants": ["x", "y"]})
    with pytest.raises(ValueError, match="no babylon output"):
        BUILDERS["unbond"](ctx, {**ARGS, "staking_time": 11, "outputs": ["s"]})
    with pytest.raises(ValueError, match="must exceed"):
        BUILDERS["expand"](ctx, {**ARGS, "outputs": ["s"], "amount": 100_000})
