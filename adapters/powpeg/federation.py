"""Federation scripts: build and recognise redeem scripts, read federation spends.

Formats (rootstock.md §1.1, rskj `ScriptBuilder`, `*ErpRedeemScriptBuilder`):
  * standard multisig (1000): `OP_m <keys> OP_n OP_CHECKMULTISIG`;
  * non-standard ERP (2000): `OP_NOTIF <m keys n> OP_ELSE <csv> OP_CSV OP_DROP <m' keys n'>
    OP_ENDIF OP_CHECKMULTISIG`;
  * P2SH-ERP (3000/4000): each branch keeps its own OP_CHECKMULTISIG, nothing after OP_ENDIF;
  * flyover: `PUSH32(derivation hash) OP_DROP <any of the above>`.
Paid via P2SH (hash160(redeem)) or, format 4000, P2SH-P2WSH (hash160(0020 || sha256(redeem))).
Keys inside each multisig are sorted ascending by their compressed bytes; m = n/2 + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.powpeg.addresses import p2sh_script
from indexer.chain.block import Tx, hash256
from indexer.chain.script import (
    OP_0,
    OP_1NEGATE,
    ScriptError,
    Token,
    compact_size,
    decode_script_num,
    hash160,
    push_data,
    push_int,
    sha256,
    tokenize,
)

OP_NOTIF, OP_ELSE, OP_ENDIF = 0x64, 0x67, 0x68
OP_DROP, OP_CSV, OP_CHECKMULTISIG = 0x75, 0xB2, 0xAE

#: A script element: (opcode, pushed data or None for non-push opcodes).
Chunk = Token

# NOTE: rskj's bitcoinj ScriptBuilder writes M and N as OP_1..OP_16 and the ERP CSV value as
# OP_n or a minimal signed little-endian push (`50cd00`), data as a minimal push: for every
# value a federation holds (M, N >= 1, CSV > 0) those are the bytes of the shared
# push_int / push_data, so Powpeg keeps no encoder of its own. (The old local copies
# differed only at -1 and for pushes of 64 KiB or more, neither of which a federation has.)


def _read_int(chunk: Chunk) -> int | None:
    op, data = chunk
    if data is None:
        if 0x51 <= op <= 0x60:
            return op - 0x50
        return -1 if op == OP_1NEGATE else None
    if op == OP_0:
        return 0
    if not data or len(data) > 5:
        return None
    return decode_script_num(data)


def sorted_keys(keys: Sequence[bytes]) -> list[bytes]:
    return sorted(keys)


def multisig_body(keys: Sequence[bytes]) -> bytes:
    """`OP_m <sorted keys> OP_n` without the OP_CHECKMULTISIG."""
    ks = sorted_keys(keys)
    return push_int(len(ks) // 2 + 1) + b"".join(push_data(k) for k in ks) + push_int(len(ks))


def multisig_script(keys: Sequence[bytes]) -> bytes:
    return multisig_body(keys) + bytes([OP_CHECKMULTISIG])


def erp_script(keys: Sequence[bytes], erp_keys: Sequence[bytes], csv: int,
               standard: bool = True) -> bytes:
    """An ERP redeem script: P2SH-ERP (`standard`, 3000/4000) or non-standard (2000)."""
    cms = bytes([OP_CHECKMULTISIG])
    tail = b"" if standard else cms
    mid = cms if standard else b""
    return (bytes([OP_NOTIF]) + multisig_body(keys) + mid + bytes([OP_ELSE]) + push_int(csv)
            + bytes([OP_CSV, OP_DROP]) + multisig_body(erp_keys) + mid + bytes([OP_ENDIF])
            + tail)


def flyover_script(derivation_hash: bytes, redeem: bytes) -> bytes:
    return push_data(derivation_hash) + bytes([OP_DROP]) + redeem


def p2sh_spk(redeem: bytes) -> bytes:
    return p2sh_script(hash160(redeem))


def p2sh_p2wsh_spk(redeem: bytes) -> bytes:
    return p2sh_script(hash160(b"\x00\x20" + sha256(redeem)))


@dataclass(frozen=True, slots=True)
class Redeem:
    """A recognised federation redeem script (flyover prefix stripped into `flyover_hash`)."""

    script: bytes  # as revealed, flyover prefix included
    inner: bytes  # the federation's own redeem script
    template: str  # "multisig" | "erp" (3000/4000) | "erp-nonstandard" (2000)
    keys: tuple[bytes, ...]
    threshold: int
    erp_keys: tuple[bytes, ...] = ()
    erp_threshold: int | None = None
    csv: int | None = None
    flyover_hash: bytes | None = None

    @property
    def is_erp(self) -> bool:
        return self.template != "multisig"


def _multisig_at(cs: list[Chunk], i: int) -> tuple[tuple[bytes, ...], int, int] | None:
    """Parse `OP_m keys OP_n` at index i -> (keys, m, next index)."""
    if i >= len(cs):
        return None
    m = _read_int(cs[i])
    keys: list[bytes] = []
    j = i + 1
    while j < len(cs) and cs[j][1] is not None and len(cs[j][1] or b"") in (33, 65):
        keys.append(cs[j][1] or b"")
        j += 1
    if j >= len(cs):
        return None
    n = _read_int(cs[j])
    if m is None or n is None or n != len(keys) or not 1 <= m <= n:
        return None
    return tuple(keys), m, j + 1


def parse_redeem(script: bytes) -> Redeem | None:
    """Recognise a (flyover-prefixed) multisig or ERP redeem script; None otherwise."""
    try:
        cs = tokenize(script)
    except ScriptError:
        return None
    flyover: bytes | None = None
    if len(cs) > 2 and cs[0][1] is not None and len(cs[0][1] or b"") == 32 and cs[1][0] == OP_DROP:
        flyover = cs[0][1]
        cs = cs[2:]
        inner = script[34:]
    else:
        inner = script
    if not cs:
        return None
    if cs[0][0] != OP_NOTIF:
        ms = _multisig_at(cs, 0)
        if ms is None or ms[2] != len(cs) - 1 or cs[-1][0] != OP_CHECKMULTISIG:
            return None
        return Redeem(script, inner, "multisig", ms[0], ms[1], flyover_hash=flyover)
    default = _multisig_at(cs, 1)
    if default is None:
        return None
    keys, m, i = default
    standard = i < len(cs) and cs[i][0] == OP_CHECKMULTISIG
    i += 1 if standard else 0
    if i + 3 >= len(cs) or cs[i][0] != OP_ELSE:
        return None
    csv = _read_int(cs[i + 1])
    if csv is None or cs[i + 2][0] != OP_CSV or cs[i + 3][0] != OP_DROP:
        return None
    emergency = _multisig_at(cs, i + 4)
    if emergency is None:
        return None
    ekeys, em, j = emergency
    rest = [c[0] for c in cs[j:]]
    want = ([OP_CHECKMULTISIG, OP_ENDIF] if standard else [OP_ENDIF, OP_CHECKMULTISIG])
    if rest != want:
        return None
    return Redeem(script, inner, "erp" if standard else "erp-nonstandard", keys, m,
                  ekeys, em, csv, flyover)


@dataclass(frozen=True, slots=True)
class FedSpend:
    """What one input reveals when it spends a federation-shaped script."""

    vin: int
    redeem: Redeem
    location: str  # "scriptSig" | "witness"
    spent_spk: bytes  # the scriptPubKey this input spends (the flyover address if any)
    federation_spk: bytes  # the federation's own scriptPubKey (same wrapping)
    signatures: int


def read_spend(tx: Tx, vin: int) -> FedSpend | None:
    """Decode input `vin` as a multisig/ERP spend, legacy P2SH or P2SH-P2WSH."""
    txin = tx.inputs[vin]
    try:
        sig = tokenize(txin.script_sig)
    except ScriptError:
        return None
    if not sig or any(d is None for _, d in sig):
        return None
    witness = tx.witness(vin) if tx.has_witness else []
    program = sig[0][1] or b""
    if witness and len(sig) == 1 and len(program) == 34 and program[:2] == b"\x00\x20":
        script, items, location = witness[-1], witness[:-1], "witness"
        if sha256(script) != program[2:]:
            return None
        spent = p2sh_script(hash160(program))
    else:
        script = sig[-1][1] or b""
        items = [d or b"" for _, d in sig[:-1]]
        location = "scriptSig"
        spent = p2sh_spk(script)
    red = parse_redeem(script)
    if red is None:
        return None
    fed = p2sh_p2wsh_spk(red.inner) if location == "witness" else p2sh_spk(red.inner)
    return FedSpend(vin, red, location, spent, fed, sum(1 for it in items if it))


def unsigned_tx_hash(tx: Tx, spends: Sequence[FedSpend]) -> str | None:
    """The hash the Bridge logs for a peg-out: signatures replaced by OP_0 (rootstock.md §2.3).

    Segwit federation spends keep signatures in the witness, so the hash is the txid.
    None when some input is not a federation spend (the Bridge never builds such a tx).
    """
    if len(spends) != len(tx.inputs):
        return None
    if tx.has_witness:
        return tx.txid
    by_vin = {s.vin: s for s in spends}
    out = bytearray(tx.version.to_bytes(4, "little", signed=True))
    out += compact_size(len(tx.inputs))
    for i, txin in enumerate(tx.inputs):
        red = by_vin[i].redeem
        script = (b"\x00" * (1 + red.threshold) + (b"\x00" if red.is_erp else b"")
                  + push_data(red.script))
        out += txin.prev_txid + txin.prev_vout.to_bytes(4, "little")
        out += compact_size(len(script)) + script + txin.sequence.to_bytes(4, "little")
    out += compact_size(len(tx.outputs))
    for o in tx.outputs:
        out += o.value.to_bytes(8, "little") + compact_size(len(o.script_pubkey)) + o.script_pubkey
    out += tx.locktime.to_bytes(4, "little")
    return hash256(bytes(out))[::-1].hex()


@dataclass(frozen=True, slots=True)
class ErpKeySet:
    """A chain's emergency keys (and CSV when it is fixed): the mark of a Powpeg ERP script."""

    keys: frozenset[bytes]
    csv: int | None = None

    def matches(self, red: Redeem) -> bool:
        return (red.is_erp and frozenset(red.erp_keys) == self.keys
                and (self.csv is None or red.csv == self.csv))


def is_powpeg_template(red: Redeem, erp_sets: Sequence[ErpKeySet]) -> bool:
    """A federation-shaped script: an ERP with this chain's emergency keys, or (when the
    chain has no ERP key set configured, or before ERP) a standard m = n/2+1 multisig."""
    if red.is_erp:
        return any(s.matches(red) for s in erp_sets)
    return red.threshold == len(red.keys) // 2 + 1


def check_redeem(spk: bytes, red: Redeem, erp_sets: Sequence[ErpKeySet]) -> str | None:
    """Why `red` does not prove the federation at `spk` (None when it does)."""
    if spk not in (p2sh_spk(red.inner), p2sh_p2wsh_spk(red.inner)):
        return "redeem script does not hash to the address"
    if red.is_erp and not any(s.matches(red) for s in erp_sets):
        return "ERP script without this chain's emergency keys"
    if not red.is_erp and red.threshold != len(red.keys) // 2 + 1:
        return f"multisig threshold {red.threshold} of {len(red.keys)} is not n/2+1"
    return None
