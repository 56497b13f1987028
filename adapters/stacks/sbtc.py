"""sBTC on Bitcoin: deposit and reclaim scripts, taproot construction, sweep recognition.

Byte layouts from stacks.md §3: a deposit output is a P2TR with the BIP-341 NUMS internal
key and two leaves (deposit: `<max fee ‖ principal> DROP <signers x-only> CHECKSIG`;
reclaim: `<lock> CSV <user script>`); the peg wallet is a key-path-only P2TR of the
signers' aggregate key; a sweep spends the peg UTXO as input 0, recreates it as output 0
and carries `OP_RETURN "T3" <version> …` at output 1. Everything here is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coincurve import PublicKeyXOnly

from adapters.stacks.addresses import c32_address, c32_decode_address
from indexer.chain.script import push_data, push_int, script_num, tagged_hash, var_bytes

__all__ = [
    "NUMS_KEY",
    "DepositLeaf",
    "ReclaimLeaf",
    "ScriptPath",
    "SweepMarker",
    "build_deposit_script",
    "build_reclaim_script",
    "deposit_taproot",
    "encode_principal",
    "p2tr_script",
    "parse_deposit_script",
    "parse_reclaim_script",
    "parse_sweep_marker",
    "peg_script_for_key",
    "script_path",
    "taproot_output_key",
]

#: BIP-341's "H" point: a key with no known discrete log (no key-path spend).
NUMS_KEY = bytes.fromhex("50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0")
TAPSCRIPT_LEAF = 0xC0
OP_DROP, OP_CHECKSIG, OP_CSV, OP_RETURN = 0x75, 0xAC, 0xB2, 0x6A
#: Lock-time type flag of BIP-68: set means time-based, which sBTC rejects.
_SEQ_TYPE_FLAG = 1 << 22


# ---------------------------------------------------------------- taproot primitives


def tapleaf_hash(script: bytes, version: int = TAPSCRIPT_LEAF) -> bytes:
    return tagged_hash("TapLeaf", bytes([version]) + var_bytes(script))


def tapbranch_hash(a: bytes, b: bytes) -> bytes:
    return tagged_hash("TapBranch", min(a, b) + max(a, b))


def taproot_output_key(internal: bytes, merkle_root: bytes | None) -> tuple[bytes, bool]:
    """(x-only output key, odd parity) of `internal` tweaked per BIP-341.

    `merkle_root=None` is the key-path-only tweak the sBTC peg wallet uses.
    """
    tweak = tagged_hash("TapTweak", internal + (merkle_root or b""))
    key = PublicKeyXOnly(internal)
    key.tweak_add(tweak)
    return key.format(), key.parity


def p2tr_script(output_key: bytes) -> bytes:
    return b"\x51\x20" + output_key


def peg_script_for_key(signers_xonly: bytes) -> bytes:
    """The peg wallet scriptPubKey of an aggregate key (stacks.md §3.3)."""
    return p2tr_script(taproot_output_key(signers_xonly, None)[0])


# ---------------------------------------------------------------- script helpers


def read_push(script: bytes, pos: int) -> tuple[bytes, int, bool] | None:
    """(data, next position, minimal?) of a data push at `pos`, None if not a push.

    Only direct pushes, OP_PUSHDATA1 and OP_PUSHDATA2 are read (not OP_0, not
    OP_PUSHDATA4): everything the Stacks templates push is 1 to 65535 bytes, so anything
    else can only be a look-alike. "Minimal" compares with the shared `push_data` (Core's
    CScript << vector). Also reads scriptSig pushes for `ops.py`.
    """
    if pos >= len(script):
        return None
    op = script[pos]
    if 1 <= op <= 75:
        start, n = pos + 1, op
    elif op == 0x4C and pos + 1 < len(script):
        start, n = pos + 2, script[pos + 1]
    elif op == 0x4D and pos + 2 < len(script):
        start, n = pos + 3, int.from_bytes(script[pos + 1:pos + 3], "little")
    else:
        return None
    if start + n > len(script):
        return None
    data = script[start:start + n]
    return data, start + n, push_data(data) == script[pos:start + n]


# ---------------------------------------------------------------- principals


def encode_principal(principal: str) -> bytes:
    """Clarity serialisation of `SP…` (0x05) or `SP….name` (0x06) (stacks.md §3.1)."""
    addr, _, name = principal.partition(".")
    version, h160 = c32_decode_address(addr)
    if not name:
        return bytes([0x05, version]) + h160
    raw = name.encode("ascii")
    if not 1 <= len(raw) <= 128:
        raise ValueError(f"contract name must be 1..128 bytes, got {len(raw)}")
    return bytes([0x06, version]) + h160 + bytes([len(raw)]) + raw


def decode_principal(data: bytes) -> str | None:
    """The principal string of exactly `data`, or None if `data` is not one."""
    if len(data) < 22 or data[0] not in (5, 6) or data[1] >= 32:
        return None
    addr = c32_address(data[1], data[2:22])
    if data[0] == 5:
        return addr if len(data) == 22 else None
    if len(data) < 23 or data[22] == 0 or len(data) != 23 + data[22]:
        return None
    try:
        name = data[23:].decode("ascii")
    except UnicodeDecodeError:
        return None
    return f"{addr}.{name}"


# ---------------------------------------------------------------- deposit / reclaim leaves


@dataclass(frozen=True, slots=True)
class DepositLeaf:
    max_fee: int
    recipient: str
    signers_xonly: bytes

    def to_json(self) -> dict[str, Any]:
        return {"max_fee_sat": self.max_fee, "recipient": self.recipient,
                "signers_xonly_pubkey": self.signers_xonly.hex()}


@dataclass(frozen=True, slots=True)
class ReclaimLeaf:
    lock_time: int
    user_script: bytes


def build_deposit_script(max_fee: int, recipient: str, signers_xonly: bytes) -> bytes:
    data = max_fee.to_bytes(8, "big") + encode_principal(recipient)
    return push_data(data) + bytes([OP_DROP]) + b"\x20" + signers_xonly + bytes([OP_CHECKSIG])


def build_reclaim_script(lock_time: int, user_script: bytes) -> bytes:
    # NOTE: only the 16-bit BIP-68 block count is meaningful; larger values are masked,
    # as stacks-core's builder does (script vector high_lock_time_with_user_script).
    return push_int(lock_time & 0xFFFF) + bytes([OP_CSV]) + user_script


def parse_deposit_script(script: bytes) -> DepositLeaf | None:
    """The deposit leaf's fields, or None when `script` is not exactly that template."""
    got = read_push(script, 0)
    if got is None:
        return None
    data, pos, minimal = got
    # Validators reject non-minimal pushes; so do we (a look-alike is not a deposit).
    if not minimal or len(data) < 30:
        return None
    tail = script[pos:]
    if len(tail) != 35 or tail[0] != OP_DROP or tail[1] != 0x20 or tail[34] != OP_CHECKSIG:
        return None
    recipient = decode_principal(data[8:])
    if recipient is None:
        return None
    try:
        # NOTE: a key that is not on the curve makes an unspendable leaf, not a deposit
        # (and must not crash the taproot tweak later).
        PublicKeyXOnly(tail[2:34])
    except ValueError:
        return None
    return DepositLeaf(int.from_bytes(data[:8], "big"), recipient, tail[2:34])


def parse_reclaim_script(script: bytes) -> ReclaimLeaf | None:
    """`<lock> OP_CSV <user script>` with a minimal, block-based lock; else None."""
    if not script:
        return None
    op = script[0]
    if op == 0:
        lock, pos = 0, 1
    elif 0x51 <= op <= 0x60:
        lock, pos = op - 0x50, 1
    else:
        got = read_push(script, 0)
        if got is None or not got[2] or not 1 <= len(got[0]) <= 5:
            return None
        raw, pos = got[0], got[1]
        if raw[-1] & 0x80 or script_num(int.from_bytes(raw, "little")) != raw:
            return None  # negative or non-minimal numbers are not valid lock times
        lock = int.from_bytes(raw, "little")
        if 1 <= lock <= 16:
            return None  # must have used OP_1..OP_16
    if pos >= len(script) or script[pos] != OP_CSV or lock & _SEQ_TYPE_FLAG:
        return None
    return ReclaimLeaf(lock & 0xFFFF, script[pos + 1:])


@dataclass(frozen=True, slots=True)
class DepositTaproot:
    deposit_leaf_hash: bytes
    reclaim_leaf_hash: bytes
    merkle_root: bytes
    output_key: bytes
    script_pubkey: bytes


def deposit_taproot(deposit_script: bytes, reclaim_script: bytes) -> DepositTaproot:
    """The deposit address of a (deposit leaf, reclaim leaf) pair under the NUMS key."""
    d, r = tapleaf_hash(deposit_script), tapleaf_hash(reclaim_script)
    root = tapbranch_hash(d, r)
    key, _ = taproot_output_key(NUMS_KEY, root)
    return DepositTaproot(d, r, root, key, p2tr_script(key))


# ---------------------------------------------------------------- spends seen in witnesses


@dataclass(frozen=True, slots=True)
class ScriptPath:
    """A taproot script-path spend: leaf script, internal key, and the output it spent."""

    script: bytes
    internal_key: bytes
    spent_script_pubkey: bytes  # recomputed from the control block


def _leaf_and_control(witness: list[bytes]) -> tuple[bytes, bytes] | None:
    """(leaf script, control block) of a well-formed tapscript script-path witness."""
    items = witness[:-1] if len(witness) >= 2 and witness[-1][:1] == b"\x50" else witness
    if len(items) < 2:
        return None
    cb, script = items[-1], items[-2]
    if len(cb) < 33 or (len(cb) - 33) % 32 or len(cb) > 33 + 32 * 128:
        return None
    if cb[0] & 0xFE != TAPSCRIPT_LEAF:
        return None
    return script, cb


def leaf_under(witness: list[bytes], internal_key: bytes) -> bytes | None:
    """The leaf script of a script-path spend under `internal_key`, else None.

    What `script_path` would say of the script and key, without its EC tweak (~0.2 ms):
    mainnet blocks hold several NUMS script-path spends that are not sBTC's, and the
    callers first check the leaf's shape, which rejects those for almost nothing.
    """
    got = _leaf_and_control(witness)
    if got is None or got[1][1:33] != internal_key:
        return None
    return got[0]


def script_path(witness: list[bytes]) -> ScriptPath | None:
    """Decode a taproot script-path witness (annex tolerated); None if it is not one."""
    got = _leaf_and_control(witness)
    if got is None:
        return None
    script, cb = got
    node = tapleaf_hash(script, cb[0] & 0xFE)
    for i in range(33, len(cb), 32):
        node = tapbranch_hash(node, cb[i:i + 32])
    try:
        key, _ = taproot_output_key(cb[1:33], node)
    except ValueError:
        return None  # internal key not on the curve: not a valid spend
    return ScriptPath(script, cb[1:33], p2tr_script(key))


def is_key_path(witness: list[bytes]) -> bool:
    items = witness[:-1] if len(witness) >= 2 and witness[-1][:1] == b"\x50" else witness
    return len(items) == 1 and len(items[0]) in (64, 65)


# ---------------------------------------------------------------- sweep OP_RETURN


@dataclass(frozen=True, slots=True)
class SweepMarker:
    version: int
    data: bytes  # after magic and version byte

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "data": self.data.hex()}
        if self.version == 0 and len(self.data) >= 18:
            out["num_deposits"] = int.from_bytes(self.data[:2], "big")
            out["signer_bitmap"] = self.data[2:18].hex()
            if len(self.data) >= 38:
                out["withdrawals_merkle_root"] = self.data[18:38].hex()
        elif self.version == 1:
            # idpack-encoded withdrawal request IDs (empty when none); kept raw.
            out["withdrawal_ids_idpack"] = self.data.hex()
        return out


def parse_sweep_marker(script: bytes, magic: bytes = b"T3") -> SweepMarker | None:
    """`OP_RETURN <magic><version>…` as signers write it at output 1, else None."""
    if len(script) < 2 or script[0] != OP_RETURN:
        return None
    got = read_push(script, 1)
    if got is None or got[1] != len(script):
        return None
    data = got[0]
    if len(data) < 3 or data[:2] != magic:
        return None
    return SweepMarker(data[2], data[3:])
