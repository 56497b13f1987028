"""The Stacks builders make consensus-valid transactions of the spec's shapes.

No node: a wallet funded by one mature coinbase feeds the builders; every input of every
built tx is checked twice, by `regtest.verify.verify_tx` and by a direct coincurve check
of the signature against the `regtest.sighash` digest of its kind (legacy for P2PKH,
BIP143 for P2WPKH, BIP341 key path for the peg and P2TR change, BIP341/342 script path for
deposit leaves). The txs are then scanned by the adapter (the in-memory core of
`test_stacks_scan`) to show they are read as the ops they claim to be; expected values
come from the amounts chosen here.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import Event, NewPosition, Rejected
from adapters.stacks import StacksAdapter
from adapters.stacks.addresses import bitcoin_address, classify_script
from adapters.stacks.sbtc import (
    NUMS_KEY,
    parse_deposit_script,
    parse_reclaim_script,
    peg_script_for_key,
)
from indexer.chain.block import parse_block
from regtest.build import REGTEST_GENESIS_HASH, Transaction, TxOutput, create_block
from regtest.keys import Key, verify_ecdsa, verify_schnorr
from regtest.protocols import BuiltTx, ProtocolContext
from regtest.protocols.stacks import BUILDERS, BURN_SCRIPT, stacks_address
from regtest.scripts import p2pkh, p2sh_p2wpkh, p2wpkh
from regtest.sighash import legacy_sighash, segwit_v0_sighash, taproot_sighash
from regtest.sign import Prevout
from regtest.taproot import TapLeaf, control_block_root, tweak_public_key
from regtest.verify import verify_tx
from regtest.wallet import Wallet
from tests.unit.test_stacks_scan import Core, events, rejected

SIGNER1, SIGNER2 = Key.from_label("sbtc-signer-1"), Key.from_label("sbtc-signer-2")
PEG1 = peg_script_for_key(SIGNER1.xonly)
STACKS = {"magic": "T2", "first_burn_height": 100, "reward_cycle_length": 10,
          "prepare_length": 3, "epochs": {"3.0": 0},
          "sbtc_peg_addresses": [bitcoin_address(classify_script(PEG1), "regtest")]}  # type: ignore[arg-type]


class Chain:
    """Builders' world without a node: a funded wallet, named outputs, known prevouts."""

    def __init__(self) -> None:
        self.wallet = Wallet()
        self.outputs: dict[tuple[str, int], TxOutput] = {}
        self.named: dict[str, Prevout] = {}
        raw = create_block(REGTEST_GENESIS_HASH, 1, 1_700_000_000, [],
                           self.wallet.funding_script)
        block = parse_block(raw)
        self.wallet.connect_block(1, block)
        cb = block.txs[0]
        for n, out in enumerate(cb.outputs):
            self.outputs[(cb.txid, n)] = TxOutput(out.value, out.script_pubkey)
        self.wallet.tip_height = 101  # the coinbase above is mature from here on

    def build(self, name: str, builder: str, height: int, **args: Any) -> BuiltTx:
        ctx = ProtocolContext(self.wallet, {"stacks": STACKS}, height, self._resolve)
        built = BUILDERS[builder](ctx, args)
        txid = built.tx.txid()
        for n, out in enumerate(built.tx.outputs):
            self.outputs[(txid, n)] = out
            self.named[f"{name}:{n}"] = Prevout(txid, n, out.value, out.script_pubkey)
        for label, n in built.outputs.items():
            self.named[f"{name}.{label}"] = self.named[f"{name}:{n}"]
        self.check(built.tx)
        return built

    def _resolve(self, ref: str) -> Prevout:
        return self.named[ref if (":" in ref or "." in ref) else f"{ref}:0"]

    def spent(self, tx: Transaction) -> list[TxOutput]:
        return [self.outputs[(i.prev_txid, i.prev_vout)] for i in tx.inputs]

    def check(self, tx: Transaction) -> None:
        """Both signature checks on every input, and value balance (fee >= 0)."""
        spent = self.spent(tx)
        assert sum(o.value for o in spent) >= sum(o.value for o in tx.outputs)
        verify_tx(tx, spent)
        for i, prev in enumerate(spent):
            _check_input(tx, i, spent, prev.script_pubkey)


def _check_input(tx: Transaction, i: int, spent: list[TxOutput], spk: bytes) -> None:
    txin = tx.inputs[i]
    if spk[:3] == b"\x76\xa9\x14":  # P2PKH: legacy sighash
        sig = txin.script_sig[1:1 + txin.script_sig[0]]
        pub = txin.script_sig[2 + len(sig):]
        assert p2pkh(pub) == spk
        assert verify_ecdsa(pub, sig[:-1], legacy_sighash(tx, i, spk, sig[-1]))
    elif spk[:2] == b"\x00\x14" or spk[:2] == b"\xa9\x14":  # P2WPKH, P2SH-P2WPKH: BIP143
        sig, pub = txin.witness
        assert (p2wpkh(pub) if spk[0] == 0 else p2sh_p2wpkh(pub)) == spk
        if spk[0] != 0:
            assert txin.script_sig == b"\x16" + p2wpkh(pub)
        digest = segwit_v0_sighash(tx, i, p2pkh(pub), spent[i].value, sig[-1])
        assert verify_ecdsa(pub, sig[:-1], digest)
    elif spk[:2] == b"\x51\x20" and len(txin.witness) == 1:  # P2TR key path
        (sig,) = txin.witness
        assert len(sig) == 64
        assert verify_schnorr(spk[2:], sig, taproot_sighash(tx, i, spent))
    elif spk[:2] == b"\x51\x20":  # P2TR script path: the deposit leaf
        sig, script, control = txin.witness
        leaf = TapLeaf(script, control[0] & 0xFE)
        q, parity = tweak_public_key(control[1:33], control_block_root(control, leaf))
        assert (q, parity) == (spk[2:], control[0] & 1) and control[1:33] == NUMS_KEY
        digest = taproot_sighash(tx, i, spent, 0, leaf.hash)
        deposit, reclaim = parse_deposit_script(script), parse_reclaim_script(script)
        if deposit is not None:
            assert verify_schnorr(deposit.signers_xonly, sig, digest)
        else:  # reclaim leaf `<lock> CSV DROP <key> CHECKSIG`: the CSV must be met
            assert reclaim is not None and reclaim.user_script[:2] == b"\x75\x20"
            assert tx.version >= 2 and txin.sequence == reclaim.lock_time
            assert verify_schnorr(reclaim.user_script[2:34], sig, digest)
    else:
        raise AssertionError(f"input {i} spends an unexpected script {spk.hex()}")


def core() -> Core:
    return Core(StacksAdapter.from_params("regtest", STACKS))


# ---------------------------------------------------------------- PoX


def test_commits_reward_prepare_and_miner_chain() -> None:
    chain, c = Chain(), core()
    types = ["p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr"]
    recipients = [{"type": t, "key": f"r-{t}"} for t in types] + [{"type": "burn"}]
    commits = [chain.build(f"c{n}", "block_commit", 103, miner=f"m{n}", amount=1_000 + n,
                           budget=50_000, recipients=recipients[2 * n:2 * n + 2],
                           key_block=102, key_vtxindex=1)
               for n in range(3)]
    for b in commits:
        outs = b.tx.outputs
        assert outs[1].value == outs[2].value and b.outputs["change"] == 3
        assert outs[3].value == 50_000
    recs = c.block(103, [b.tx for b in commits])
    got = events(recs, "block_commit")
    assert [e.amount_sat for e in got] == [2_000, 2_002, 2_004]
    assert [o["script_type"] for e in got for o in e.data["commit_outputs"]] == [
        *types, "p2pkh"]
    assert got[2].data["burned_sat"] == 1_002 and all(e.data["valid"] for e in got)

    # prepare phase at 108 (offset 8): one burn output, spending c0's change as input 0
    p = chain.build("p0", "block_commit", 108, miner="m0", amount=3_000,
                    chain_from="c0.change", change_type="p2pkh", parent_block=103,
                    parent_vtxindex=1, key_block=102, key_vtxindex=1, fee=500)
    assert p.tx.outputs[1] == TxOutput(3_000, BURN_SCRIPT) and p.outputs["change"] == 2
    assert p.tx.outputs[2].value == 50_000 - 3_000 - 500
    assert (p.tx.inputs[0].prev_txid, p.tx.inputs[0].prev_vout) == (commits[0].tx.txid(), 3)
    # the p2pkh change feeds a reward commit (legacy signature), whose p2tr change feeds
    # another one (key-path signature)
    r = chain.build("r0", "block_commit", 111, miner="m0", amount=700, chain_from="p0.change",
                    change_type="p2tr", key_block=102, key_vtxindex=1)
    r2 = chain.build("r1", "block_commit", 112, miner="m0", amount=600,
                     chain_from="r0.change", key_block=102, key_vtxindex=1)
    (e,) = events(c.block(108, [p.tx]), "block_commit")
    assert (e.data["phase"], e.data["prev_commit_txid"]) == ("prepare", commits[0].tx.txid())
    (e2,) = events(c.block(111, [r.tx]), "block_commit")
    (e3,) = events(c.block(112, [r2.tx]), "block_commit")
    assert e3.data["miner_chain"] == e2.data["miner_chain"] == commits[0].tx.txid()
    assert e3.data["burned_sat"] == 1_200  # default recipients: two burns


def test_reward_form_in_prepare_phase_is_rejected() -> None:
    chain = Chain()
    bad = chain.build("bad", "block_commit", 108, miner="m", amount=10, phase="reward",
                      recipients=[{"type": "p2pkh", "key": "a"}, {"type": "p2pkh", "key": "b"}])
    (r,) = rejected(core().block(108, [bad.tx]))
    assert "not a burn" in r.reason


def test_key_register_pre_stx_stack_and_transfer() -> None:
    chain, c = Chain(), core()
    kr = chain.build("kr", "leader_key_register", 102, miner="m")
    pre1 = chain.build("pre1", "pre_stx", 102, sender="s1")
    pre2 = chain.build("pre2", "pre_stx", 102, sender="s2", sender_type="p2sh")
    xfer = chain.build("xfer", "transfer_stx", 102, pre_stx="pre2.sender", sender="s2",
                       ustx=42, memo="hi", recipient="s1")
    stack = chain.build("stack", "stack_stx", 102, pre_stx="pre1.sender", sender="s1",
                        ustx=10**11, cycles=6, signer_key="sk", auth_id=9,
                        reward={"type": "p2tr", "key": "s1"})
    for b, pre in ((xfer, pre2), (stack, pre1)):
        assert (b.tx.inputs[0].prev_txid, b.tx.inputs[0].prev_vout) == (pre.tx.txid(), 1)
    recs = c.block(102, [kr.tx, pre1.tx, pre2.tx, xfer.tx, stack.tx])
    assert rejected(recs) == []
    (k,) = events(recs, "leader_key_register")
    assert k.data["vrf_public_key"] == kr.info["vrf_public_key"]
    (t,) = events(recs, "transfer_stx")
    (s,) = events(recs, "stack_stx")
    assert t.data["recipient"] == stacks_address_for_label("s1") == s.data["sender"]
    assert (t.data["ustx"], t.data["memo"]) == (42, b"hi".hex())
    assert t.data["sender"].startswith("SN")
    assert (s.data["ustx"], s.data["num_cycles"], s.data["auth_id"]) == (10**11, 6, 9)
    assert s.data["signer_key"] == Key.from_label("sk").pubkey.hex()
    assert s.data["max_amount"] == 10**11


def stacks_address_for_label(label: str) -> str:
    ctx = ProtocolContext(Wallet(), {}, 0, lambda r: Prevout("", 0, 0, b""))
    return stacks_address(ctx, label)


@pytest.mark.parametrize(("args", "rejects"), [
    ({"opcode": "+"}, 1), ({"opcode": "<"}, 1), ({"magic": "X2", "opcode": "["}, 0),
    ({"opcode": "[", "op_return_vout": 1}, 0), ({"kind": "sweep"}, 0),
])
def test_lookalikes(args: dict[str, Any], rejects: int) -> None:
    b = Chain().build("look", "lookalike", 104, **args)
    recs = core().block(104, [b.tx])
    assert [r for r in recs if isinstance(r, Event | NewPosition)] == []
    assert len([r for r in recs if isinstance(r, Rejected)]) == rejects


# ---------------------------------------------------------------- sBTC


def test_deposit_sweep_withdrawal_and_rotation() -> None:
    chain, c = Chain(), core()
    boot = chain.wallet.send([TxOutput(10**8, PEG1)])
    for n, out in enumerate(boot.outputs):
        chain.outputs[(boot.txid(), n)] = out
        chain.named[f"boot:{n}"] = Prevout(boot.txid(), n, out.value, out.script_pubkey)
    d1 = chain.build("d1", "sbtc_deposit", 102, depositor="alice", value=5 * 10**7)
    d2 = chain.build("d2", "sbtc_deposit", 102, depositor="bob", value=2 * 10**7,
                     max_fee=1_000, lock_time=300)
    c.block(102, [boot, d1.tx, d2.tx])
    sweep = chain.build("s1", "sbtc_sweep", 103, peg="boot:0", fee=1_500, deposits=[
        {"output": "d1.deposit", "depositor": "alice"},
        {"output": "d2.deposit", "depositor": "bob", "max_fee": 1_000, "lock_time": 300}],
        withdrawals=[{"type": "p2wpkh", "key": "dave", "value": 3 * 10**7}])
    tx = sweep.tx
    assert tx.outputs[0] == TxOutput(10**8 + 7 * 10**7 - 3 * 10**7 - 1_500, PEG1)
    assert tx.outputs[1].script_pubkey[2:] == b"T3\x00\x00\x02" + b"\x00" * 16
    assert [i.sequence for i in tx.inputs] == [0, 0, 0] and tx.version == 2
    recs = c.block(103, [tx])
    (sw,) = events(recs, "sbtc_sweep")
    assert sw.data["deposits_minus_fee_sat"] == 7 * 10**7 - 1_500
    assert sw.data["marker"]["num_deposits"] == 2 and not sw.data["key_rotation"]
    deps = events(recs, "sbtc_deposit")
    assert [d.data["recipient"] for d in deps] == [stacks_address_for_label("alice"),
                                                   stacks_address_for_label("bob")]
    assert [d.data["max_fee_sat"] for d in deps] == [80_000, 1_000]
    (wd,) = events(recs, "sbtc_withdrawal")
    assert wd.amount_sat == 3 * 10**7
    assert c.locked()["peg_utxo_sat"] == 14 * 10**7 - 1_500

    rot = chain.build("rot", "sbtc_key_rotation", 104, peg="s1.peg",
                      new_signer="sbtc-signer-2", fee=700)
    assert rot.tx.outputs[0] == TxOutput(14 * 10**7 - 2_200, peg_script_for_key(SIGNER2.xonly))
    d3 = chain.build("d3", "sbtc_deposit", 104, depositor="erin", signer="sbtc-signer-2",
                     value=10**6)
    recs = c.block(104, [rot.tx, d3.tx])
    (r,) = events(recs, "sbtc_sweep")
    assert r.data["key_rotation"] and r.data["deposits"] == 0
    s2 = chain.build("s2", "sbtc_sweep", 105, peg="rot.peg", signer="sbtc-signer-2",
                     deposits=[{"output": "d3.deposit", "depositor": "erin"}])
    (sw2,) = events(c.block(105, [s2.tx]), "sbtc_sweep")
    assert sw2.data["linked"] and sw2.amount_sat == 14 * 10**7 - 2_200 + 10**6 - 2_000


def test_sweep_refuses_a_peg_of_another_key() -> None:
    chain = Chain()
    boot = chain.wallet.send([TxOutput(10**6, PEG1)])
    chain.outputs[(boot.txid(), 0)] = boot.outputs[0]
    chain.named["boot:0"] = Prevout(boot.txid(), 0, 10**6, PEG1)
    with pytest.raises(ValueError, match="not the peg address"):
        chain.build("s", "sbtc_sweep", 103, peg="boot:0", signer="sbtc-signer-2")


def test_reclaim_spends_the_reclaim_leaf_with_its_csv() -> None:
    chain, c = Chain(), core()
    d = chain.build("d", "sbtc_deposit", 102, depositor="grace", value=10**6, lock_time=2)
    rc = chain.build("rc", "sbtc_reclaim", 104, deposit="d.deposit", depositor="grace",
                     lock_time=2, fee=800)
    assert rc.tx.outputs == [TxOutput(10**6 - 800, p2wpkh(Key.from_label("grace").pubkey))]
    c.block(102, [d.tx])
    recs = c.block(104, [rc.tx])
    (r,) = events(recs, "sbtc_reclaim")
    assert (r.data["lock_time"], r.data["sequence"]) == (2, 2)
    assert r.data["deposit_txid"] == d.tx.txid()
    assert [x for x in recs if isinstance(x, NewPosition | Rejected)] == []
