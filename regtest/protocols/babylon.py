"""Babylon transaction builders for scenarios (spec babylon.md §1-2).

Every output shape comes from `adapters.babylon.scripts` (the leaves) and is cross-checked
against its builders (`build_staking`, `unbonding_script_pubkey`,
`slashing_change_script_pubkey`), so a scenario can only pay to what the spec defines.
`regtest.taproot` then gives the control blocks, and `regtest.sign` the BIP341/342
script-path signatures: the witness of a leaf `<staker> CHECKSIGVERIFY [<fp> CHECKSIGVERIFY]
<c1> CHECKSIG <c2> CHECKSIGADD ... <M> NUMEQUAL` is, bottom to top, one slot per covenant
key from the largest to the smallest (empty for non-signers), then the FP's signature,
then the staker's (spec §2.4), so each key's check pops its own signature.

Builders (args as written in a scenario; keys are labels for `ctx.key`):

- `stake`: `staker`, `fp`, `staking_time`, `amount`; optional `op_return` (false: a phase-2
  stake with no OP_RETURN), `params_version` (whose tag and covenants to use; default the
  version in force at the next height), and invalid variants `tag` (hex), `op_return_time`
  (the time written in the OP_RETURN, when it differs from the output's), `op_returns` and
  `staking_outputs` (how many copies), `op_return_first`, `fee`, `locktime`.
- `unbond` (a `spend` step of the staking output): `staker`, `fp`, `staking_time`; optional
  `covenants` (signing labels, default the first quorum of `covenant-1..`), `fee` (default
  the version's unbonding fee; another value is an invalid unbonding), `sequence`.
- `withdraw`: `staker`, with `fp` and `staking_time` for staking and unbonding outputs;
  which output is spent is found by matching its scriptPubKey; nSequence is its timelock.
  Optional `to` (label, default the staker), `fee`.
- `slash`: `staker`, `fp`, `staking_time`, `slashed_sat`; optional `covenants`,
  `slashing_script` (hex, default mainnet's OP_RETURN "babylon" burn), `fee`. Output 0
  is the slashed part, output 1 the change to `timelock(staker, unbonding_time)`.
- `expand`: `staker`, `fp`, `staking_time`, `amount` (the new stake, more than the old);
  optional `new_staking_time`, `covenants`, `fee`. Input 0 spends the old stake by the
  unbonding leaf, the wallet funds the rest.

The spend builders find the params version whose covenants built the spent output, so
they need no version argument; they refuse to build a transaction consensus would reject
(too few covenant signers, a prevout the arguments do not describe).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from adapters.babylon.params import GlobalParams, ParamsVersion, parse_params
from adapters.babylon.scripts import (
    NUMS_X,
    build_staking,
    slashing_change_script_pubkey,
    slashing_leaf,
    timelock_leaf,
    unbonding_leaf,
    unbonding_script_pubkey,
)
from regtest.build import TxOutput
from regtest.keys import Key
from regtest.protocols import BuiltTx, ProtocolContext, TxBuilder
from regtest.scripts import op_return, p2wpkh
from regtest.sign import Prevout, sign_p2tr_script
from regtest.taproot import TapLeaf, TaprootOutput
from regtest.wallet import DEFAULT_FEE_SAT, Spend

__all__ = [
    "BUILDERS",
    "MAINNET_SLASHING_SCRIPT",
    "StakeShape",
    "babylon_params",
    "covenant_signers",
    "find_shape",
]

#: Mainnet's slashing_pk_script: OP_RETURN "babylon", a burn (spec §2.4).
MAINNET_SLASHING_SCRIPT = bytes.fromhex("6a07626162796c6f6e")
FINAL_SEQUENCE = 0xFFFFFFFF
#: How many `covenant-N` labels to try when looking for the committee's secret keys.
MAX_COVENANT_LABELS = 32


def babylon_params(ctx: ProtocolContext) -> GlobalParams:
    section = ctx.params.get("babylon")
    if not isinstance(section, Mapping):
        raise ValueError("babylon builders need a 'babylon' section in the scenario params")
    return parse_params(section)


@dataclass(frozen=True)
class StakeShape:
    """The taproot outputs of one stake (staker, FP, staking time, params version)."""

    staker: Key
    fp: Key
    staking_time: int
    version: ParamsVersion
    checked: bool = True  # False only for invalid variants babylon refuses to build

    @property
    def covenants(self) -> tuple[bytes, ...]:
        return self.version.covenant_pks

    @cached_property
    def timelock(self) -> TapLeaf:
        return TapLeaf(timelock_leaf(self.staker.xonly, self.staking_time))

    @cached_property
    def unbonding_leaf(self) -> TapLeaf:
        return TapLeaf(unbonding_leaf(self.staker.xonly, self.covenants,
                                      self.version.covenant_quorum))

    @cached_property
    def slashing(self) -> TapLeaf:
        return TapLeaf(slashing_leaf(self.staker.xonly, (self.fp.xonly,), self.covenants,
                                     self.version.covenant_quorum))

    @cached_property
    def unbonding_timelock(self) -> TapLeaf:
        return TapLeaf(timelock_leaf(self.staker.xonly, self.version.unbonding_time))

    @cached_property
    def staking(self) -> TaprootOutput:
        """root = Branch(Branch(timelock, unbonding), slashing) over NUMS (§2.2)."""
        out = TaprootOutput(NUMS_X, ((self.timelock, self.unbonding_leaf), self.slashing))
        if self.checked:
            spec = build_staking(self.staker.xonly, (self.fp.xonly,), self.staking_time,
                                 self.covenants, self.version.covenant_quorum)
            _same(out, spec.script_pubkey, "staking")
        return out

    @cached_property
    def unbonding(self) -> TaprootOutput:
        """root = Branch(timelock(staker, unbonding_time), slashing)."""
        out = TaprootOutput(NUMS_X, (self.unbonding_timelock, self.slashing))
        _same(out, unbonding_script_pubkey(self.staker.xonly, self.version.unbonding_time,
                                           self.slashing.hash), "unbonding")
        return out

    @cached_property
    def slashing_change(self) -> TaprootOutput:
        return slashing_change_output(self.staker, self.version)


def slashing_change_output(staker: Key, version: ParamsVersion) -> TaprootOutput:
    """A single-leaf tree: timelock(staker, unbonding_time)."""
    out = TaprootOutput(NUMS_X, TapLeaf(timelock_leaf(staker.xonly, version.unbonding_time)))
    _same(out, slashing_change_script_pubkey(staker.xonly, version.unbonding_time),
          "slashing change")
    return out


def _same(out: TaprootOutput, spec_spk: bytes, what: str) -> None:
    # Two independent constructions (regtest.taproot and the adapter's scripts) must agree,
    # or the scenario would test the adapter against itself.
    if out.script_pubkey != spec_spk:
        raise AssertionError(f"{what} output differs between regtest.taproot and "
                             "adapters.babylon.scripts")


def find_shape(ctx: ProtocolContext, prevout: Prevout, args: Mapping[str, Any]
               ) -> tuple[StakeShape, str]:
    """The stake the spent output belongs to, and which of its outputs it is.

    Tries every params version (the covenant set is not in the args): the output must be
    the staking, unbonding or slashing change output built from the args.
    """
    staker = ctx.key(str(args["staker"]))
    fp_label, time = args.get("fp"), args.get("staking_time")
    for v in babylon_params(ctx).versions:
        if fp_label is not None and time is not None:
            shape = StakeShape(staker, ctx.key(str(fp_label)), int(time), v)
            if prevout.script_pubkey == shape.staking.script_pubkey:
                return shape, "staking"
        if fp_label is not None:
            # The unbonding output does not commit to the staking time; any value builds it.
            shape = StakeShape(staker, ctx.key(str(fp_label)), int(time or 1), v)
            if prevout.script_pubkey == shape.unbonding.script_pubkey:
                return shape, "unbonding"
        if prevout.script_pubkey == slashing_change_output(staker, v).script_pubkey:
            return StakeShape(staker, staker, int(time or 1), v, checked=False), \
                "slashing_change"
    raise ValueError(f"{prevout.txid}:{prevout.vout} is no babylon output of staker "
                     f"{args['staker']!r} with these args under any params version")


def covenant_signers(ctx: ProtocolContext, version: ParamsVersion,
                     labels: Sequence[str] | None = None) -> list[Key]:
    """Covenant keys that sign: the given labels, else the first quorum of `covenant-N`."""
    if labels is not None:
        keys = [ctx.key(str(label)) for label in labels]
        foreign = [lb for lb, k in zip(labels, keys, strict=True)
                   if k.xonly not in version.covenant_pks]
        if foreign:
            raise ValueError(f"not covenant keys of params version {version.version}: {foreign}")
    else:
        keys = [k for k in (ctx.key(f"covenant-{n}") for n in range(1, MAX_COVENANT_LABELS))
                if k.xonly in version.covenant_pks][:version.covenant_quorum]
    if len(keys) < version.covenant_quorum:
        # NOTE: fewer signatures than the quorum fails OP_NUMEQUAL: consensus-invalid.
        raise ValueError(f"{len(keys)} covenant signers for a quorum of "
                         f"{version.covenant_quorum}")
    return keys


def _stake_version(ctx: ProtocolContext, args: Mapping[str, Any]) -> ParamsVersion:
    params = babylon_params(ctx)
    if "params_version" in args:
        found = params.by_version(int(args["params_version"]))
    else:
        found = params.at(ctx.next_height)
    if found is None:
        raise ValueError(f"no babylon params version for height {ctx.next_height}")
    return found


def stake(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """A staking tx: taproot staking output(s), the V0 OP_RETURN(s) unless a phase-2 stake."""
    pv = _stake_version(ctx, args)
    staker, fp = ctx.key(str(args["staker"])), ctx.key(str(args["fp"]))
    time = int(args["staking_time"])
    # babylon refuses to build a staking script with a repeated key; the invalid variant
    # "staker = FP" still needs some output to pay, so skip the cross-check there.
    shape = StakeShape(staker, fp, time, pv, checked=staker != fp)
    staking_out = TxOutput(int(args["amount"]), shape.staking.script_pubkey)
    stakes = [staking_out] * int(args.get("staking_outputs", 1))
    tag = bytes.fromhex(str(args["tag"])) if "tag" in args else pv.tag
    payload = (tag + b"\x00" + staker.xonly + fp.xonly
               + int(args.get("op_return_time", time)).to_bytes(2, "big"))
    n_returns = int(args.get("op_returns", 1)) if args.get("op_return", True) else 0
    returns = [TxOutput(0, op_return(payload))] * n_returns
    first_return = bool(args.get("op_return_first", False))
    outputs = [*returns, *stakes] if first_return else [*stakes, *returns]
    tx = ctx.wallet.send(outputs, fee=int(args.get("fee", DEFAULT_FEE_SAT)),
                         locktime=int(args.get("locktime", 0)))
    names = {"staking": len(returns) if first_return else 0}
    if returns:
        names["op_return"] = 0 if first_return else len(stakes)
    info = {"staker_pk": staker.xonly.hex(), "finality_provider_pk": fp.xonly.hex(),
            "staking_time": time, "params_version": pv.version,
            "script_pubkey": staking_out.script_pubkey.hex()}
    return BuiltTx(tx, names, info)


def _spent(ctx: ProtocolContext, args: Mapping[str, Any]) -> Prevout:
    refs = args.get("outputs") or [args.get("output")]
    if len(refs) != 1 or not refs[0]:
        raise ValueError("spend exactly one babylon output (`outputs: [ref]` in a spend step)")
    return ctx.output(str(refs[0]))


def _labels(args: Mapping[str, Any]) -> list[str] | None:
    raw = args.get("covenants")
    return None if raw is None else [str(x) for x in raw]


def unbond(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """1-in/1-out, version 2, final sequence, nLockTime 0, via the unbonding leaf (§2.3)."""
    prevout = _spent(ctx, args)
    shape, kind = find_shape(ctx, prevout, args)
    if kind != "staking":
        raise ValueError(f"unbond spends a staking output, not a {kind} output")
    pv = shape.version
    signers = [shape.staker, *covenant_signers(ctx, pv, _labels(args))]
    signer = sign_p2tr_script(shape.staking, shape.unbonding_leaf, signers)
    value = prevout.value - int(args.get("fee", pv.unbonding_fee))
    out = TxOutput(value, shape.unbonding.script_pubkey)
    tx = ctx.wallet.spend([Spend(prevout, signer, int(args.get("sequence", FINAL_SEQUENCE)))],
                          [out], locktime=0, version=2)
    return BuiltTx(tx, {"unbonding": 0}, {"unbonding_value_sat": value})


def withdraw(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """The timelock leaf of a staking, unbonding or slashing change output, nSequence = T."""
    prevout = _spent(ctx, args)
    shape, kind = find_shape(ctx, prevout, args)
    if kind == "staking":
        output, leaf, blocks = shape.staking, shape.timelock, shape.staking_time
    elif kind == "unbonding":
        output, leaf = shape.unbonding, shape.unbonding_timelock
        blocks = shape.version.unbonding_time
    else:
        output = shape.slashing_change
        leaf, blocks = shape.unbonding_timelock, shape.version.unbonding_time
    signer = sign_p2tr_script(output, leaf, [shape.staker])
    to = ctx.key(str(args.get("to", args["staker"])))
    out = TxOutput(prevout.value - int(args.get("fee", DEFAULT_FEE_SAT)), p2wpkh(to.pubkey))
    # NOTE: OP_CHECKSEQUENCEVERIFY needs tx version >= 2 and nSequence >= the leaf's
    # blocks; BIP68 then holds the tx back until the output has that many confirmations.
    tx = ctx.wallet.spend([Spend(prevout, signer, blocks)], [out], version=2)
    return BuiltTx(tx, {"withdrawn": 0}, {"from": kind, "sequence": blocks})


def slash(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """The slashing leaf (staker + FP + covenant quorum): slashed output, then change."""
    prevout = _spent(ctx, args)
    shape, kind = find_shape(ctx, prevout, args)
    if kind == "slashing_change":
        raise ValueError("a slashing change output has no slashing leaf")
    output = shape.staking if kind == "staking" else shape.unbonding
    signers = [shape.staker, shape.fp,
               *covenant_signers(ctx, shape.version, _labels(args))]
    signer = sign_p2tr_script(output, shape.slashing, signers)
    slashed = int(args["slashed_sat"])
    burn = bytes.fromhex(str(args["slashing_script"])) if "slashing_script" in args \
        else MAINNET_SLASHING_SCRIPT
    change = prevout.value - slashed - int(args.get("fee", DEFAULT_FEE_SAT))
    outs = [TxOutput(slashed, burn), TxOutput(change, shape.slashing_change.script_pubkey)]
    tx = ctx.wallet.spend([Spend(prevout, signer)], outs, version=2)
    return BuiltTx(tx, {"slashed": 0, "change": 1}, {"from": kind, "change_sat": change})


def expand(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Stake expansion (§2.4): input 0 = old stake by the unbonding leaf, plus funding;
    output 0 = the new stake (same staker and FP, covenants of the next height's version)."""
    prevout = _spent(ctx, args)
    old, kind = find_shape(ctx, prevout, args)
    if kind != "staking":
        raise ValueError(f"expand spends a staking output, not a {kind} output")
    amount = int(args["amount"])
    if amount <= prevout.value:
        raise ValueError("an expansion adds funds: the new amount must exceed the old stake, "
                         "or the wallet adds no funding input")
    new = StakeShape(old.staker, old.fp, int(args.get("new_staking_time", old.staking_time)),
                     _stake_version(ctx, args))
    signers = [old.staker, *covenant_signers(ctx, old.version, _labels(args))]
    first = Spend(prevout, sign_p2tr_script(old.staking, old.unbonding_leaf, signers))
    tx = ctx.wallet.send([TxOutput(amount, new.staking.script_pubkey)],
                         fee=int(args.get("fee", DEFAULT_FEE_SAT)), inputs=[first])
    return BuiltTx(tx, {"staking": 0}, {"staking_time": new.staking_time,
                                        "params_version": new.version.version})


BUILDERS: dict[str, TxBuilder] = {
    "stake": stake,
    "unbond": unbond,
    "withdraw": withdraw,
    "slash": slash,
    "expand": expand,
}
