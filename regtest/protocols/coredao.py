"""Core DAO transaction builders: `SAT+` stakes under CLTV scripts, their redeems, LST stakes.

Scenario steps call them by name (`{"tx": {"protocol": "coredao", "builder": "stake",
"args": {...}}}`). The redeem-script shapes come from `adapters.coredao.scripts` so the
builder and the adapter agree on bytes; the payload layout is the one
`adapters.coredao.decode` reads (written out here, since the adapter only decodes).

The lock and the script it guards, shared by `stake` and `redeem` (a redeem rebuilds the
script from the same arguments, because a builder sees earlier outputs only as prevouts):

- `shape`: `pubkey_hash` (default), `pubkey` or `multisig`;
- `key`: key label for `pubkey`/`pubkey_hash` (default `core-staker`);
  `keys` (labels) and `m` for `multisig` (the first `m` keys sign a redeem);
- the lock, exactly one of: `locktime` (raw nLockTime value: a height below 500,000,000,
  else a unix time) or `lock_time_of_height` (the unix time the harness gives block H,
  `genesis + 600 * H`: a 4-byte time lock, the only kind Core's verifier accepts).

`stake` args (besides the above): `value` (sat, required), `output` (`p2wsh` default or
`p2sh`), `payload` (`script`: the full redeem script, default; `timelock`: only the 4-byte
lock, so the adapter must rebuild the script from the inputs), `inputs` (refs of outputs
the wallet can sign, spent first: how a timelock-only stake reveals the staker's key or
multisig script; a `spend` step's `outputs` count the same), `chain_id` (default: the
params' `coredao.chain_id`), `delegator` and `validator` (`0x` + 40 hex digits, or a
key label hashed to 20 bytes; the delegator defaults to the hash160 of the first key),
`relayer_fee` (0..255 CORE), `fee` (sat), `mismatch` (true: the value goes to the staker
key's P2WPKH instead, so no output matches the payload's script).

`redeem` args (besides the lock/script ones): `stake` (ref of the staking output; a
`spend` step passes it as `outputs`), `to` (key label of a P2WPKH destination; default the
wallet), `fee` (sat), `locktime_override` (nLockTime if not the script's lock). It refuses
to build a spend the next block could not include (lock not yet passed by height or
median time past), since the test node does not run scripts and would accept it.

`lst_stake` args: `value`, `keys`/`m` (the receiving 2-of-3 P2WSH wallet by default),
`delegator`, `relayer_fee`, `chain_id`, `fee`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.coredao.decode import MAGIC, MAX_PAYLOAD, TIMELOCK_LEN, VERSION_LST, VERSION_STAKE
from adapters.coredao.params import load_params
from adapters.coredao.scripts import (
    LOCKTIME_THRESHOLD,
    multisig_script,
    pubkey_hash_script,
    pubkey_script,
)
from regtest.build import REGTEST_GENESIS_TIME, TxOutput, push_data
from regtest.keys import Key, hash160
from regtest.protocols import BuiltTx, ProtocolContext, TxBuilder
from regtest.scripts import multisig, op_return, p2sh, p2wpkh, p2wsh
from regtest.sign import Prevout, SignContext, Signer, Solution
from regtest.wallet import DEFAULT_FEE_SAT, Spend

__all__ = [
    "BUILDERS",
    "CltvLock",
    "cltv_signer",
    "lock_from_args",
    "lst_payload",
    "median_time_past",
    "redeem",
    "stake",
    "stake_payload",
]

#: Seconds between harness blocks (`regtest.harness`); block H's time is genesis + 600*H.
BLOCK_INTERVAL = 600
#: nSequence of a CLTV spend: anything below final, or OP_CLTV fails (BIP65).
CLTV_SEQUENCE = 0xFFFFFFFE
_MTP_SPAN = 11


# ---------------------------------------------------------------- the lock and its script


@dataclass(frozen=True)
class CltvLock:
    """A CLTV redeem script and the keys that sign its spend (script order for multisig)."""

    shape: str
    locktime: int
    script: bytes
    signers: tuple[Key, ...]

    @property
    def is_time(self) -> bool:
        return self.locktime >= LOCKTIME_THRESHOLD


def block_time(height: int) -> int:
    """The time the harness gives block `height` on a fresh node.

    NOTE: on a node with someone else's blocks the harness steps times by one second
    instead, and these (and the median-time-past check built on them) are only a guide.
    """
    return REGTEST_GENESIS_TIME + BLOCK_INTERVAL * height


def median_time_past(next_height: int) -> int:
    """The median time past a block at `next_height` is checked against (BIP113): the
    median of the previous (up to) 11 blocks' times, as Core's GetMedianTimePast takes it."""
    times = sorted(block_time(h) for h in range(max(0, next_height - _MTP_SPAN), next_height))
    return times[len(times) // 2]


def _locktime(args: Mapping[str, Any]) -> int:
    given = [k for k in ("locktime", "lock_time_of_height") if k in args]
    if len(given) != 1:
        raise ValueError("give exactly one of locktime, lock_time_of_height")
    if given[0] == "locktime":
        value = int(args["locktime"])
    else:
        value = block_time(int(args["lock_time_of_height"]))
    # NOTE: locks 1..16 would push as OP_1..OP_16, which regtest.verify mistakes for a
    # bare multisig's M; and 0 is pointless. Real locks are far larger anyway.
    if not 17 <= value <= 0xFFFFFFFF:
        raise ValueError(f"locktime {value} out of range 17..2^32-1")
    return value


def lock_from_args(args: Mapping[str, Any]) -> CltvLock:
    """The redeem script the shape arguments describe (see the module docstring)."""
    shape = str(args.get("shape", "pubkey_hash"))
    locktime = _locktime(args)
    if shape in ("pubkey", "pubkey_hash"):
        key = Key.from_label(str(args.get("key", "core-staker")))
        script = (pubkey_script(locktime, key.pubkey) if shape == "pubkey"
                  else pubkey_hash_script(locktime, hash160(key.pubkey)))
        return CltvLock(shape, locktime, script, (key,))
    if shape == "multisig":
        keys = [Key.from_label(str(k)) for k in args["keys"]]
        m = int(args["m"])
        script = multisig_script(locktime, m, [k.pubkey for k in keys])
        # CHECKMULTISIG walks signatures and keys in script order: sign with the first m.
        return CltvLock(shape, locktime, script, tuple(keys[:m]))
    raise ValueError(f"unknown redeem script shape {shape!r} (pubkey, pubkey_hash, multisig)")


# ---------------------------------------------------------------- payloads


def core_address(value: Any) -> bytes:
    """20 bytes from `0x` + 40 hex digits, or from a key label (hash160 of its pubkey)."""
    text = str(value)
    if text.startswith("0x"):
        raw = bytes.fromhex(text[2:])
        if len(raw) != 20:
            raise ValueError(f"a Core address is 20 bytes, got {len(raw)}: {text}")
        return raw
    return hash160(Key.from_label(text).pubkey)


def stake_payload(chain_id: int, delegator: bytes, validator: bytes, relayer_fee: int,
                  tail: bytes) -> bytes:
    """Version-1 `SAT+` payload: magic | 01 | chain id (BE) | delegator | validator | fee |
    redeem script or 4-byte little-endian timelock."""
    if not 0 <= relayer_fee <= 0xFF:
        raise ValueError(f"relayer fee {relayer_fee} out of 0..255")
    payload = (MAGIC + bytes([VERSION_STAKE]) + chain_id.to_bytes(2, "big") + delegator
               + validator + bytes([relayer_fee]) + tail)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}: carry "
                         "only the timelock (payload: timelock) for this shape")
    return payload


def lst_payload(chain_id: int, delegator: bytes, relayer_fee: int) -> bytes:
    """Version-2 (BTC LST) payload: magic | 02 | chain id (BE) | delegator | fee."""
    return (MAGIC + bytes([VERSION_LST]) + chain_id.to_bytes(2, "big") + delegator
            + bytes([relayer_fee]))


def _chain_id(ctx: ProtocolContext, args: Mapping[str, Any]) -> int:
    if "chain_id" in args:
        return int(args["chain_id"])
    return load_params(ctx.network, ctx.params.get("coredao")).chain_id


# ---------------------------------------------------------------- signing a CLTV spend


def cltv_signer(lock: CltvLock, output_type: str) -> Signer:
    """Unlocks a P2WSH (BIP143 signatures, witness) or P2SH (legacy, scriptSig) output of
    `lock.script`: `<sig> [<pubkey>]` or `OP_0 <sig>...`, then the script itself."""
    if output_type not in ("p2wsh", "p2sh"):
        raise ValueError(f"a CLTV stake is p2wsh or p2sh, not {output_type!r}")

    def signer(ctx: SignContext) -> Solution:
        if output_type == "p2wsh":
            sigs = [ctx.ecdsa_v0(k, lock.script) for k in lock.signers]
        else:
            sigs = [ctx.ecdsa_legacy(k, lock.script) for k in lock.signers]
        if lock.shape == "pubkey":
            items = sigs
        elif lock.shape == "pubkey_hash":
            items = [sigs[0], lock.signers[0].pubkey]
        else:
            items = [b"", *sigs]  # the dummy CHECKMULTISIG pops (empty: NULLDUMMY)
        if output_type == "p2wsh":
            return Solution(witness=[*items, lock.script])
        return Solution(script_sig=b"".join(push_data(i) for i in [*items, lock.script]))
    return signer


def _output_type(lock: CltvLock, prevout: Prevout) -> str:
    if prevout.script_pubkey == p2wsh(lock.script):
        return "p2wsh"
    if prevout.script_pubkey == p2sh(lock.script):
        return "p2sh"
    raise ValueError(f"{prevout.txid}:{prevout.vout} does not pay to the P2WSH/P2SH of "
                     f"{lock.script.hex()}: redeem args must repeat the stake's shape and lock")


def _check_spendable(lock: CltvLock, locktime: int, next_height: int) -> None:
    """Refuse what consensus would: a CLTV spend whose nLockTime is below the script's,
    of the other kind, or not yet final in the next block."""
    if (locktime >= LOCKTIME_THRESHOLD) != lock.is_time or locktime < lock.locktime:
        raise ValueError(f"nLockTime {locktime} does not satisfy CLTV {lock.locktime}")
    if lock.is_time:
        mtp = median_time_past(next_height)
        if not locktime < mtp:
            raise ValueError(f"time lock {locktime} not passed at height {next_height} "
                             f"(median time past {mtp})")
    elif not locktime < next_height:
        raise ValueError(f"height lock {locktime} not passed at height {next_height}")


# ---------------------------------------------------------------- builders


def stake(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """A version-1 stake: the CLTV output (vout 0), the `SAT+` OP_RETURN (vout 1), change."""
    lock = lock_from_args(args)
    output_type = str(args.get("output", "p2wsh"))
    value = int(args["value"])
    mode = str(args.get("payload", "script"))
    if mode == "script":
        tail = lock.script
    elif mode == "timelock":
        tail = lock.locktime.to_bytes(TIMELOCK_LEN, "little")
    else:
        raise ValueError(f"unknown payload mode {mode!r} (script, timelock)")
    owner = lock.signers[0]
    # By default the reward address is the staker key's hash, as a wallet would derive it.
    delegator = (core_address(args["delegator"]) if "delegator" in args
                 else hash160(owner.pubkey))
    validator = core_address(args.get("validator", "core-validator"))
    payload = stake_payload(_chain_id(ctx, args), delegator, validator,
                            int(args.get("relayer_fee", 0)), tail)
    if args.get("mismatch"):
        # Paid to a plain key instead: the payload's script then matches no output.
        spk = p2wpkh(owner.pubkey)
        ctx.wallet.add_key(owner)
    elif output_type == "p2wsh":
        spk = p2wsh(lock.script)
    elif output_type == "p2sh":
        spk = p2sh(lock.script)
    else:
        raise ValueError(f"unknown output type {output_type!r} (p2wsh, p2sh)")
    # `outputs` is what a `spend` step passes; `inputs` the same from a `tx` step.
    refs = [*args.get("inputs", []), *args.get("outputs", [])]
    inputs = [ctx.output(str(r)) for r in refs]
    spends = [Spend(p, ctx.wallet.signer_for(p.script_pubkey)) for p in inputs]
    tx = ctx.wallet.send([TxOutput(value, spk), TxOutput(0, op_return(payload))],
                         fee=int(args.get("fee", DEFAULT_FEE_SAT)), inputs=spends)
    info = {"redeem_script": lock.script.hex(), "locktime": lock.locktime,
            "shape": lock.shape, "output_type": "p2wpkh" if args.get("mismatch")
            else output_type, "delegator": "0x" + delegator.hex(),
            "validator": "0x" + validator.hex(), "payload": payload.hex()}
    return BuiltTx(tx, {"staking": 0, "op_return": 1}, info)


def redeem(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Spend a stake output after its lock: nLockTime >= the lock, nSequence below final."""
    refs: Sequence[Any] = args.get("outputs") or [args["stake"]]
    if len(refs) != 1:
        raise ValueError("redeem spends exactly one stake output")
    prevout = ctx.output(str(refs[0]))
    lock = lock_from_args(args)
    output_type = _output_type(lock, prevout)
    locktime = int(args.get("locktime_override", lock.locktime))
    _check_spendable(lock, locktime, ctx.next_height)
    fee = int(args.get("fee", DEFAULT_FEE_SAT))
    if "to" in args:
        key = Key.from_label(str(args["to"]))
        ctx.wallet.add_key(key)
        dest = p2wpkh(key.pubkey)
    else:
        dest = ctx.wallet.funding_script
    tx = ctx.wallet.spend([Spend(prevout, cltv_signer(lock, output_type), CLTV_SEQUENCE)],
                          [TxOutput(prevout.value - fee, dest)], locktime=locktime)
    return BuiltTx(tx, {"out": 0}, {"locktime": locktime, "output_type": output_type})


def lst_stake(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """A version-2 (BTC LST) stake: BTC to a multisig wallet (vout 0), payload (vout 1)."""
    keys = [Key.from_label(str(k)) for k in args.get("keys", ["lst-1", "lst-2", "lst-3"])]
    m = int(args.get("m", 2))
    script = multisig(m, [k.pubkey for k in keys])
    ctx.wallet.add_multisig(script, keys[:m])
    payload = lst_payload(_chain_id(ctx, args),
                          core_address(args.get("delegator", "core-lst-delegator")),
                          int(args.get("relayer_fee", 0)))
    tx = ctx.wallet.send([TxOutput(int(args["value"]), p2wsh(script)),
                          TxOutput(0, op_return(payload))],
                         fee=int(args.get("fee", DEFAULT_FEE_SAT)))
    return BuiltTx(tx, {"wallet": 0, "op_return": 1}, {"payload": payload.hex()})


BUILDERS: dict[str, TxBuilder] = {
    "stake": stake,
    "redeem": redeem,
    "lst_stake": lst_stake,
}
