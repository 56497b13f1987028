"""Stacks transaction builders: PoX burnchain operations and sBTC (stacks.md §1, §3).

Every transaction is signed for real (legacy, BIP143 or BIP341 as the input needs) so
scenarios run unchanged on `bitcoind -regtest`. Shapes come from the adapter's own
encoders (`adapters.stacks.sbtc`) and the spec's byte layouts, never from the indexer's
output. Keys are labels (`ctx.key(label)`); the Stacks section of the scenario's params
gives the magic and the PoX cycle, so a commit's reward/prepare form follows the height
it will be mined at.

Builders (args in each docstring): `block_commit`, `leader_key_register`, `pre_stx`,
`stack_stx`, `transfer_stx`, `sbtc_deposit`, `sbtc_sweep`, `sbtc_key_rotation`,
`sbtc_reclaim`, `lookalike`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from adapters.stacks import pox
from adapters.stacks.addresses import c32_address
from adapters.stacks.ops import valid_ed25519_point
from adapters.stacks.params import StacksParams
from adapters.stacks.sbtc import (
    NUMS_KEY,
    build_deposit_script,
    build_reclaim_script,
    deposit_taproot,
    peg_script_for_key,
)
from regtest.build import Transaction, TxOutput
from regtest.keys import Key, hash160
from regtest.protocols import BuiltTx, ProtocolContext, TxBuilder
from regtest.scripts import multisig, op_return, p2pkh, p2sh_p2wpkh, p2wpkh, p2wsh
from regtest.sign import (
    Prevout,
    SignContext,
    Signer,
    Solution,
    sign_p2pkh,
    sign_p2sh_p2wpkh,
    sign_p2tr_key,
    sign_p2tr_script,
    sign_p2wpkh,
)
from regtest.taproot import TapLeaf, TaprootOutput
from regtest.wallet import DEFAULT_FEE_SAT, Spend

__all__ = ["BUILDERS", "deposit_output", "output_script", "stacks_params"]

Args = Mapping[str, Any]
BURN_SCRIPT = b"\x76\xa9\x14" + b"\x00" * 20 + b"\x88\xac"
#: Stacks testnet address version of a p2pkh (`ST…`), what regtest principals use.
_ST_P2PKH = 26
_DEFAULT_SIGNER = "sbtc-signer-1"
_SWEEP_MAGIC = b"T3"  # hardcoded by the sBTC signers on every network (stacks.md §3.2)


# ---------------------------------------------------------------- helpers


def stacks_params(ctx: ProtocolContext) -> StacksParams:
    """The scenario's Stacks params as the adapter reads them."""
    return StacksParams.build(ctx.network, ctx.params.get("stacks"))


def output_script(spec: Args, ctx: ProtocolContext) -> bytes:
    """The scriptPubKey a `{"type": T, "key": label}` spec names.

    T: p2pkh, p2sh (a P2SH-wrapped P2WPKH of the key), p2sh-p2wpkh, p2wpkh, p2wsh (a 1-of-1
    multisig of the key), p2tr (BIP86 key path), burn (the all-zero p2pkh), or `script`
    with `"script": hex`.
    """
    kind = str(spec.get("type", "p2wpkh"))
    if kind == "burn":
        return BURN_SCRIPT
    if kind == "script":
        return bytes.fromhex(str(spec["script"]))
    key = ctx.key(str(spec["key"]))
    if kind == "p2pkh":
        return p2pkh(key.pubkey)
    if kind in ("p2sh", "p2sh-p2wpkh"):
        return p2sh_p2wpkh(key.pubkey)
    if kind == "p2wpkh":
        return p2wpkh(key.pubkey)
    if kind == "p2wsh":
        return p2wsh(multisig(1, [key.pubkey]))
    if kind == "p2tr":
        return TaprootOutput(key.xonly).script_pubkey
    raise ValueError(f"stacks: unknown output type {kind!r}")


def _single_key_signer(key: Key, prevout: Prevout) -> Signer:
    """The signer of one of `key`'s single-key outputs (whichever form `prevout` is)."""
    forms: dict[bytes, Signer] = {
        p2pkh(key.pubkey): sign_p2pkh(key),
        p2wpkh(key.pubkey): sign_p2wpkh(key),
        p2sh_p2wpkh(key.pubkey): sign_p2sh_p2wpkh(key),
        TaprootOutput(key.xonly).script_pubkey: sign_p2tr_key(key),
    }
    try:
        return forms[prevout.script_pubkey]
    except KeyError:
        raise ValueError(f"stacks: {prevout.txid}:{prevout.vout} is not a single-key output "
                         f"of {key.pubkey.hex()}") from None


def _op_data(ctx: ProtocolContext, opcode: str, payload: bytes) -> TxOutput:
    data = stacks_params(ctx).magic + opcode.encode("ascii") + payload
    if len(data) > 80:
        raise ValueError(f"stacks: op data is {len(data)} bytes, 80 at most")
    return TxOutput(0, op_return(data))


def _fee(args: Args, default: int = DEFAULT_FEE_SAT) -> int:
    return int(args.get("fee", default))


def _label_bytes(label: str, n: int) -> bytes:
    """`n` deterministic bytes named by `label` (block hashes, seeds, consensus hashes)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{i}".encode()).digest()
        i += 1
    return out[:n]


def vrf_key(label: str) -> bytes:
    """A deterministic 32-byte string that decompresses as an Ed25519 point (§1.3)."""
    i = 0
    while True:
        cand = hashlib.sha256(f"vrf/{label}/{i}".encode()).digest()
        if valid_ed25519_point(cand):
            return cand
        i += 1


def stacks_address(ctx: ProtocolContext, label: str) -> str:
    """The `ST…` address of the p2pkh of `label`'s key (a default sBTC recipient)."""
    return c32_address(_ST_P2PKH, hash160(ctx.key(label).pubkey))


def _funded(ctx: ProtocolContext, outputs: list[TxOutput], args: Args,
            first: Spend | None = None) -> Transaction:
    """Wallet-funded tx: `first` (if any) is input 0, wallet coins after, change last."""
    return ctx.wallet.send(outputs, fee=_fee(args), inputs=[first] if first else [])


# ---------------------------------------------------------------- PoX operations


def block_commit(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Leader block-commit (`[`, §1.2), reward or prepare form by the mining height.

    args: `miner` (label; owns the change), `amount` (sat per commit output), `recipients`
    (two output specs, reward phase; default two burns), `chain_from` (ref of the previous
    commit's change, spent as input 0; else the wallet funds it and `budget` sat go to the
    change), `change_type` (p2wpkh), `parent_block`/`parent_vtxindex`/`key_block`/
    `key_vtxindex` (pointers, default 0), `phase` (override), `epoch_marker` (override),
    `fee`. Outputs: `commit0`[, `commit1`], `change`.
    """
    p = stacks_params(ctx)
    height = ctx.next_height
    phase = str(args.get("phase", pox.phase(p, height)))
    miner = ctx.key(str(args["miner"]))
    amount = int(args["amount"])
    if phase == "reward":
        specs = list(args.get("recipients", [{"type": "burn"}, {"type": "burn"}]))
        if len(specs) != 2:
            raise ValueError("stacks: a reward-phase commit has exactly two recipients")
        commit_outs = [TxOutput(amount, output_script(s, ctx)) for s in specs]
    else:
        commit_outs = [TxOutput(amount, BURN_SCRIPT)]
    marker = args.get("epoch_marker", p.epoch_at(height).marker or 0)
    modulus = (height - 1) % 5  # on time: intended for exactly this height
    payload = (_label_bytes(f"block/{args['miner']}/{height}", 32)
               + _label_bytes(f"seed/{args['miner']}/{height}", 32)
               + int(args.get("parent_block", 0)).to_bytes(4, "big")
               + int(args.get("parent_vtxindex", 0)).to_bytes(2, "big")
               + int(args.get("key_block", 0)).to_bytes(4, "big")
               + int(args.get("key_vtxindex", 0)).to_bytes(2, "big")
               + bytes([(int(marker) << 3) | modulus]))
    change_spk = output_script({"type": args.get("change_type", "p2wpkh"),
                                "key": args["miner"]}, ctx)
    head = [_op_data(ctx, "[", payload), *commit_outs]
    change_vout = len(head)
    if "chain_from" in args:
        prev = ctx.output(str(args["chain_from"]))
        change = prev.value - sum(o.value for o in commit_outs) - _fee(args)
        if change <= 0:
            raise ValueError(f"stacks: {args['chain_from']} cannot pay this commit")
        tx = ctx.wallet.spend([Spend(prev, _single_key_signer(miner, prev))],
                              [*head, TxOutput(change, change_spk)])
    else:
        tx = _funded(ctx, [*head, TxOutput(int(args.get("budget", 1_000_000)), change_spk)],
                     args)
    names = {f"commit{i}": 1 + i for i in range(len(commit_outs))}
    return BuiltTx(tx, {**names, "change": change_vout},
                   {"phase": phase, "burn_fee_sat": amount * len(commit_outs)})


def leader_key_register(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Leader key register (`^`, §1.3): consensus hash, VRF key, hash160 of the miner's
    key as memo. args: `miner`, `value` (of vout 1, default 10,000), `fee`."""
    miner = ctx.key(str(args["miner"]))
    payload = (_label_bytes(f"consensus/{ctx.next_height}", 20) + vrf_key(str(args["miner"]))
               + hash160(miner.pubkey))
    out1 = TxOutput(int(args.get("value", 10_000)), p2wpkh(miner.pubkey))
    tx = _funded(ctx, [_op_data(ctx, "^", payload), out1], args)
    return BuiltTx(tx, {"key_output": 1}, {"vrf_public_key": vrf_key(str(args["miner"])).hex()})


def pre_stx(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Pre-stx (`p`, §1.4): vout 1 is the sender's legacy output a later op spends.

    args: `sender` (label), `sender_type` (p2pkh or p2sh, default p2pkh), `value`
    (default 10,000), `fee`. Output `sender` (vout 1).
    """
    spk = output_script({"type": args.get("sender_type", "p2pkh"), "key": args["sender"]}, ctx)
    tx = _funded(ctx, [_op_data(ctx, "p", b""), TxOutput(int(args.get("value", 10_000)), spk)],
                 args)
    return BuiltTx(tx, {"sender": 1})


def _sender_input(ctx: ProtocolContext, args: Args) -> Spend | None:
    """Input 0 of an op that proves its sender: vout 1 of a pre-stx (None: no proof)."""
    if "pre_stx" not in args:
        return None
    prev = ctx.output(str(args["pre_stx"]))
    return Spend(prev, _single_key_signer(ctx.key(str(args["sender"])), prev))


def stack_stx(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Stack-stx (`x`, §1.5): uSTX, cycles, signer key, max amount, auth id.

    args: `pre_stx` (ref of the pre-stx's vout 1, spent as input 0; omit for an op with
    no sender proof), `sender` (label owning it), `ustx`, `cycles`, `signer_key` (label;
    omitted: the 17-byte form), `max_amount`, `auth_id`, `reward` (output spec of vout 1),
    `reward_value` (default 1,000), `fee`.
    """
    payload = int(args["ustx"]).to_bytes(16, "big") + bytes([int(args.get("cycles", 1))])
    if "signer_key" in args:
        payload += ctx.key(str(args["signer_key"])).pubkey
        payload += int(args.get("max_amount", args["ustx"])).to_bytes(16, "big")
        payload += int(args.get("auth_id", 1)).to_bytes(4, "big")
    reward = TxOutput(int(args.get("reward_value", 1_000)), output_script(args["reward"], ctx))
    tx = _funded(ctx, [_op_data(ctx, "x", payload), reward], args, _sender_input(ctx, args))
    return BuiltTx(tx, {"reward": 1})


def transfer_stx(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Transfer-stx (`$`, §1.6): uSTX and memo; vout 1 is the (legacy) recipient.

    args: `pre_stx`, `sender` (as stack_stx), `ustx`, `memo` (text), `recipient` (label),
    `recipient_type` (p2pkh or p2sh), `recipient_value` (default 1,000), `fee`.
    """
    payload = int(args["ustx"]).to_bytes(16, "big") + str(args.get("memo", "")).encode()
    spk = output_script({"type": args.get("recipient_type", "p2pkh"),
                         "key": args["recipient"]}, ctx)
    out1 = TxOutput(int(args.get("recipient_value", 1_000)), spk)
    tx = _funded(ctx, [_op_data(ctx, "$", payload), out1], args, _sender_input(ctx, args))
    return BuiltTx(tx, {"recipient": 1})


def lookalike(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Transactions that resemble Stacks/sBTC ones but must not be read as such (§1.9).

    `kind` "op" (default): `OP_RETURN magic‖opcode‖zeros` with `magic` (default the
    scenario's), `opcode` (one character), `payload_len` (77), at vout `op_return_vout`
    (0), then two p2wpkh outputs to `key`. `kind` "sweep": a `T3` sweep marker at vout 1
    behind a P2TR output 0 of `key`, funded by the wallet (not the peg, no deposits).
    """
    key = ctx.key(str(args.get("key", "lookalike")))
    value = int(args.get("value", 10_000))
    if args.get("kind", "op") == "sweep":
        outs = [TxOutput(value, TaprootOutput(key.xonly).script_pubkey),
                TxOutput(0, op_return(_SWEEP_MAGIC + b"\x00" + b"\x00\x01" + b"\x00" * 16))]
        return BuiltTx(_funded(ctx, outs, args))
    magic = str(args.get("magic", stacks_params(ctx).magic.decode())).encode("ascii")
    data = magic + str(args["opcode"]).encode("ascii") + b"\x00" * int(args.get("payload_len", 77))
    outs = [TxOutput(value, p2wpkh(key.pubkey)), TxOutput(value, p2wpkh(key.pubkey))]
    outs.insert(int(args.get("op_return_vout", 0)), TxOutput(0, op_return(data)))
    return BuiltTx(_funded(ctx, outs, args))


# ---------------------------------------------------------------- sBTC


def deposit_output(ctx: ProtocolContext, spec: Args, signer: str) -> TaprootOutput:
    """The deposit P2TR of `spec` (`depositor`, `recipient`, `max_fee`, `lock_time`,
    `signer`): NUMS internal key, deposit leaf and reclaim leaf (§3.1)."""
    depositor = ctx.key(str(spec["depositor"]))
    signers = ctx.key(str(spec.get("signer", signer)))
    recipient = str(spec.get("recipient", stacks_address(ctx, str(spec["depositor"]))))
    ds = build_deposit_script(int(spec.get("max_fee", 80_000)), recipient, signers.xonly)
    # Reclaim: <lock> CSV DROP <depositor> CHECKSIG, the common user script.
    rs = build_reclaim_script(int(spec.get("lock_time", 6)),
                              b"\x75\x20" + depositor.xonly + b"\xac")
    out = TaprootOutput(NUMS_KEY, (TapLeaf(ds), TapLeaf(rs)))
    if out.script_pubkey != deposit_taproot(ds, rs).script_pubkey:
        # The harness's taproot and the adapter's must agree, or sweeps go unrecognised.
        raise AssertionError("deposit taproot construction disagrees with the adapter's")
    return out


def sbtc_deposit(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """A deposit (§3.1): the wallet pays `value` to the deposit address.

    args: `value`, `depositor` (label of the reclaim key; default recipient is its `ST…`
    address), `signer` (label of the signers' key, default sbtc-signer-1), `recipient`,
    `max_fee` (80,000), `lock_time` (6), `fee`. Output `deposit` (vout 0).
    """
    out = deposit_output(ctx, args, _DEFAULT_SIGNER)
    tx = _funded(ctx, [TxOutput(int(args["value"]), out.script_pubkey)], args)
    leaves = out.leaves
    return BuiltTx(tx, {"deposit": 0}, {"deposit_script": leaves[0].script.hex(),
                                        "reclaim_script": leaves[1].script.hex()})


def _deposit_signer(key: Key, output: TaprootOutput, leaf: TapLeaf) -> Signer:
    """Script-path spend of the deposit leaf: [sig, leaf, control block] (BIP341/342)."""
    control = output.control_block(leaf)

    def signer(c: SignContext) -> Solution:
        return Solution(witness=[c.schnorr(key, leaf_hash=leaf.hash), leaf.script, control])
    return signer


def sbtc_sweep(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """A signers' sweep (§3.2): peg key path as input 0, deposits by their deposit leaf.

    args: `peg` (ref of the current peg UTXO or a payment to the peg address), `signer`
    (label of the key it pays; default sbtc-signer-1), `deposits` (list of
    `{"output": ref, ...sbtc_deposit args}`), `withdrawals` (output specs with `value`),
    `new_signer` (label: output 0 pays that key's peg address, a key rotation), `fee`
    (taken from the peg, default 2,000). Outputs: `peg` (0), `marker` (1),
    `withdrawal<i>` (2...). The new peg = old peg + deposits - withdrawals - fee.
    """
    signer_label = str(args.get("signer", _DEFAULT_SIGNER))
    signer = ctx.key(signer_label)
    peg = ctx.output(str(args["peg"]))
    if peg.script_pubkey != peg_script_for_key(signer.xonly):
        raise ValueError(f"stacks: {args['peg']} is not the peg address of {signer_label}")
    spends = [Spend(peg, sign_p2tr_key(signer), sequence=0)]
    for spec in args.get("deposits", []):
        prev = ctx.output(str(spec["output"]))
        out = deposit_output(ctx, spec, signer_label)
        if prev.script_pubkey != out.script_pubkey:
            raise ValueError(f"stacks: {spec['output']} is not the deposit these args describe")
        key = ctx.key(str(spec.get("signer", signer_label)))
        spends.append(Spend(prev, _deposit_signer(key, out, out.leaves[0]), sequence=0))
    withdrawals = [TxOutput(int(w["value"]), output_script(w, ctx))
                   for w in args.get("withdrawals", [])]
    new_key = ctx.key(str(args.get("new_signer", signer_label)))
    n_deposits = len(spends) - 1
    value = (sum(s.prevout.value for s in spends) - sum(w.value for w in withdrawals)
             - _fee(args, 2_000))
    # Version-0 marker: "T3" 0x00, number of deposits (u16 BE), 16-byte signer bitmap.
    marker = _SWEEP_MAGIC + b"\x00" + n_deposits.to_bytes(2, "big") + b"\x00" * 16
    outs = [TxOutput(value, peg_script_for_key(new_key.xonly)), TxOutput(0, op_return(marker)),
            *withdrawals]
    tx = ctx.wallet.spend(spends, outs)
    names = {"peg": 0, "marker": 1} | {f"withdrawal{i}": 2 + i for i in range(len(withdrawals))}
    return BuiltTx(tx, names, {"peg_sat": value, "deposits": n_deposits,
                               "key_rotation": new_key != signer})


def sbtc_reclaim(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """The depositor takes a deposit back through the reclaim leaf (§3.1, §3.2 end).

    args: `deposit` (ref), the deposit's own args (`depositor`, `signer`, `recipient`,
    `max_fee`, `lock_time`), `to` (output spec, default the depositor's p2wpkh), `fee`.
    nSequence is the CSV lock in blocks (tx version 2): the scenario must mine the
    deposit at least `lock_time` blocks before this tx's block, which the builder cannot
    see. Output `reclaimed` (0).
    """
    prev = ctx.output(str(args["deposit"]))
    out = deposit_output(ctx, args, _DEFAULT_SIGNER)
    if prev.script_pubkey != out.script_pubkey:
        raise ValueError(f"stacks: {args['deposit']} is not the deposit these args describe")
    lock = int(args.get("lock_time", 6)) & 0xFFFF
    spec = args.get("to", {"type": "p2wpkh", "key": args["depositor"]})
    dest = TxOutput(prev.value - _fee(args), output_script(spec, ctx))
    leaf = out.leaves[1]
    spend = Spend(prev, sign_p2tr_script(out, leaf, [ctx.key(str(args["depositor"]))]),
                  sequence=lock)
    return BuiltTx(ctx.wallet.spend([spend], [dest], version=2), {"reclaimed": 0})


def sbtc_key_rotation(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """A DKG key-rotation sweep: `sbtc_sweep` whose output 0 pays `new_signer` (required)."""
    if "new_signer" not in args:
        raise ValueError("stacks: sbtc_key_rotation needs new_signer")
    return sbtc_sweep(ctx, args)


BUILDERS: dict[str, TxBuilder] = {
    "block_commit": block_commit,
    "leader_key_register": leader_key_register,
    "pre_stx": pre_stx,
    "stack_stx": stack_stx,
    "transfer_stx": transfer_stx,
    "lookalike": lookalike,
    "sbtc_deposit": sbtc_deposit,
    "sbtc_sweep": sbtc_sweep,
    "sbtc_key_rotation": sbtc_key_rotation,
    "sbtc_reclaim": sbtc_reclaim,
}
