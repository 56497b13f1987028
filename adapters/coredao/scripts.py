"""Core DAO redeem scripts: reading the CLTV shapes, rebuilding them, matching outputs.

A Core stake locks its BTC in a P2SH or P2WSH output whose redeem script starts with
`<locktime> OP_CHECKLOCKTIMEVERIFY OP_DROP` (design.md, "Redeem Script"). The common tails
are a public key (`<pk> OP_CHECKSIG`), a public key hash (`OP_DUP OP_HASH160 <pkh>
OP_EQUALVERIFY OP_CHECKSIG`, the recommended one and the only one short enough to ride in
an 80-byte OP_RETURN) and an M-of-N multisig. When the OP_RETURN carries only the 4-byte
timelock, relayers rebuild the script from the timelock and what the inputs reveal (their
public keys, or the multisig script they spend); `rebuild_candidates` does the same, and a
candidate only counts when its hash matches an output, so guessing widely costs nothing in
correctness.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from indexer.chain.block import Tx, TxOut
from indexer.chain.script import (
    OP_0,
    OP_1,
    OP_16,
    OP_PUSHDATA1,
    OP_PUSHDATA2,
    OP_PUSHDATA4,
    ScriptError,
    Token,
    hash160,
    push_data,
    push_int,
    sha256,
)
from indexer.chain.script import decode_script_num as script_num_decode
from indexer.chain.script import script_num as script_num_encode
from indexer.chain.script import tokenize as _tokenize

__all__ = [
    "LOCKTIME_THRESHOLD",
    "CltvScript",
    "cltv_prefix",
    "hash160",
    "match_outputs",
    "multisig_script",
    "p2sh_script_pubkey",
    "p2wsh_script_pubkey",
    "parse_cltv_script",
    "pubkey_hash_script",
    "pubkey_script",
    "rebuild_candidates",
    "script_num_decode",
    "script_num_encode",
    "tokenize",
]

OP_DROP = 0x75
OP_DUP = 0x76
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_HASH160 = 0xA9
OP_CHECKSIG = 0xAC
OP_CHECKMULTISIG = 0xAE
OP_CHECKLOCKTIMEVERIFY = 0xB1

#: nLockTime values below this are block heights, at or above it unix times (BIP65).
LOCKTIME_THRESHOLD = 500_000_000

# CLTV reads its operand as a CScriptNum of at most 5 bytes (BIP65: "5-byte" numbers so
# that times past 2038 fit).
_CLTV_NUM_MAX = 5


def tokenize(script: bytes) -> list[Token] | None:
    """The script's opcodes with their pushed data; None when a push runs past the end."""
    # NOTE: None instead of ScriptError because every caller here treats an unreadable
    # script as "not a stake script" and moves on.
    try:
        return _tokenize(script)
    except ScriptError:
        return None


def _small_int(token: Token) -> int | None:
    op, data = token
    if data is None and OP_1 <= op <= OP_16:
        return op - OP_1 + 1
    return None


def _is_pubkey(data: bytes | None) -> bool:
    if data is None:
        return False
    return (len(data) == 33 and data[0] in (2, 3)) or (len(data) == 65 and data[0] == 4)


@dataclass(frozen=True, slots=True)
class CltvScript:
    """A redeem script that begins with `<locktime> OP_CLTV OP_DROP`.

    `kind` is `pubkey`, `pubkey_hash`, `multisig` or `other` (any tail: Bitcoin will still
    enforce the lock). `core_format` says whether Core's verifier accepts the script: it
    requires a 4-byte locktime push right before OP_CLTV (`script[0] == 0x04 and
    script[5] == 0xb1`), i.e. in practice a unix-time lock.
    """

    script: bytes
    locktime: int
    kind: str
    pubkeys: tuple[bytes, ...] = ()
    pubkey_hash: bytes | None = None
    m: int | None = None
    tail: bytes = b""

    @property
    def locktime_type(self) -> str:
        return "time" if self.locktime >= LOCKTIME_THRESHOLD else "height"

    @property
    def core_format(self) -> bool:
        s = self.script
        return len(s) > 5 and s[0] == 0x04 and s[5] == OP_CHECKLOCKTIMEVERIFY


def parse_cltv_script(script: bytes) -> CltvScript | None:
    """Read a CLTV-prefixed redeem script; None when it does not start with a valid lock."""
    tokens = tokenize(script)
    if tokens is None or len(tokens) < 4:
        return None
    num, (op1, _), (op2, _) = tokens[0][1], tokens[1], tokens[2]
    if op1 != OP_CHECKLOCKTIMEVERIFY or op2 != OP_DROP:
        return None
    if num is None:
        small = _small_int(tokens[0])
        if small is None:
            return None
        locktime = small
    else:
        if len(num) > _CLTV_NUM_MAX:
            return None
        locktime = script_num_decode(num)
    if locktime < 0:
        # CLTV fails on a negative operand: such a script can never be spent.
        return None
    tail_tokens = tokens[3:]
    tail = script[_prefix_len(script):]
    kind, pubkeys, pkh, m = _classify_tail(tail_tokens)
    return CltvScript(script, locktime, kind, pubkeys, pkh, m, tail)


def _prefix_len(script: bytes) -> int:
    """Length of `<locktime> OP_CLTV OP_DROP` at the start of an already-validated script."""
    op = script[0]
    if op == OP_0 or op > OP_PUSHDATA4:
        first = 1
    elif op < OP_PUSHDATA1:
        first = 1 + op
    elif op == OP_PUSHDATA1:
        first = 2 + script[1]
    elif op == OP_PUSHDATA2:
        first = 3 + int.from_bytes(script[1:3], "little")
    else:
        first = 5 + int.from_bytes(script[1:5], "little")
    return first + 2


def _classify_tail(t: Sequence[Token]) -> tuple[str, tuple[bytes, ...], bytes | None, int | None]:
    if len(t) == 2 and _is_pubkey(t[0][1]) and t[1] == (OP_CHECKSIG, None):
        pk = t[0][1]
        assert pk is not None
        return "pubkey", (pk,), None, None
    if (len(t) == 5 and t[0] == (OP_DUP, None) and t[1] == (OP_HASH160, None)
            and t[2][1] is not None and len(t[2][1]) == 20
            and t[3] == (OP_EQUALVERIFY, None) and t[4] == (OP_CHECKSIG, None)):
        return "pubkey_hash", (), t[2][1], None
    ms = _parse_multisig(t)
    if ms is not None:
        return "multisig", ms[1], None, ms[0]
    return "other", (), None, None


def _parse_multisig(t: Sequence[Token]) -> tuple[int, tuple[bytes, ...]] | None:
    """`M <pk1..pkN> N OP_CHECKMULTISIG` -> (M, pubkeys)."""
    if len(t) < 4 or t[-1] != (OP_CHECKMULTISIG, None):
        return None
    m, n = _small_int(t[0]), _small_int(t[-2])
    keys = t[1:-2]
    if m is None or n is None or n != len(keys) or not 1 <= m <= n:
        return None
    if not all(_is_pubkey(k[1]) for k in keys):
        return None
    return m, tuple(k[1] for k in keys if k[1] is not None)


# ---------------------------------------------------------------- building


def cltv_prefix(locktime: int) -> bytes:
    """`<locktime> OP_CHECKLOCKTIMEVERIFY OP_DROP` with the locktime pushed minimally."""
    # NOTE: bitcoinjs' script.compile (used by Core's btc-staking-tool) and Bitcoin Core's
    # CScript << int emit OP_0 / OP_1..OP_16 for small numbers, else a minimal push; the
    # shared push_int is exactly that (the two also agree on OP_1NEGATE for -1, which no
    # locktime, M or N here can be), so Core DAO needs no encoding of its own.
    return push_int(locktime) + bytes([OP_CHECKLOCKTIMEVERIFY, OP_DROP])


def pubkey_script(locktime: int, pubkey: bytes) -> bytes:
    return cltv_prefix(locktime) + push_data(pubkey) + bytes([OP_CHECKSIG])


def pubkey_hash_script(locktime: int, pubkey_hash: bytes) -> bytes:
    return (cltv_prefix(locktime) + bytes([OP_DUP, OP_HASH160]) + push_data(pubkey_hash)
            + bytes([OP_EQUALVERIFY, OP_CHECKSIG]))


def multisig_script(locktime: int, m: int, pubkeys: Sequence[bytes]) -> bytes:
    if not 1 <= m <= len(pubkeys) <= 16:
        raise ValueError(f"multisig needs 1 <= m <= n <= 16, got m={m} n={len(pubkeys)}")
    body = b"".join(push_data(pk) for pk in pubkeys)
    return (cltv_prefix(locktime) + push_int(m) + body + push_int(len(pubkeys))
            + bytes([OP_CHECKMULTISIG]))


def p2sh_script_pubkey(script: bytes) -> bytes:
    """`OP_HASH160 <RIPEMD160(SHA256(script))> OP_EQUAL`."""
    return bytes([OP_HASH160, 20]) + hash160(script) + bytes([OP_EQUAL])


def p2wsh_script_pubkey(script: bytes) -> bytes:
    """`OP_0 <SHA256(script)>`."""
    return bytes([OP_0, 32]) + sha256(script)


def match_outputs(script: bytes, outputs: Sequence[TxOut]) -> list[tuple[int, str]]:
    """(vout, `p2sh`/`p2wsh`) of every output that pays to `script`'s hash, in order."""
    p2sh, p2wsh = p2sh_script_pubkey(script), p2wsh_script_pubkey(script)
    found: list[tuple[int, str]] = []
    for vout, out in enumerate(outputs):
        if out.script_pubkey == p2wsh:
            found.append((vout, "p2wsh"))
        elif out.script_pubkey == p2sh:
            found.append((vout, "p2sh"))
    return found


# ---------------------------------------------------------------- rebuilding from inputs


def _input_items(tx: Tx) -> Iterator[tuple[list[bytes], bytes | None]]:
    """Per input: the data it reveals (scriptSig pushes + witness items) and its last item,
    which is the redeem/witness script when the input spends a P2SH/P2WSH output."""
    witnesses = tx.witnesses
    for i, txin in enumerate(tx.inputs):
        tokens = tokenize(txin.script_sig) or []
        pushes = [d for _, d in tokens if d is not None]
        wit = witnesses[i] if i < len(witnesses) else []
        items = pushes + list(wit)
        last = wit[-1] if len(wit) >= 2 else (pushes[-1] if len(pushes) >= 2 else None)
        yield items, last


def rebuild_candidates(locktime: int, tx: Tx) -> list[bytes]:
    """Redeem scripts a relayer could build from `locktime` and what `tx`'s inputs reveal.

    - every public key an input shows (P2PKH scriptSig, P2WPKH / P2SH-P2WPKH witness, or a
      multisig/CLTV script) gives the public-key-hash and public-key forms;
    - an input spending a bare multisig P2SH/P2WSH gives the CLTV multisig form;
    - an input spending an earlier CLTV stake (a re-stake) gives its tail under the new lock.
    Ordered and without duplicates.
    """
    seen: dict[bytes, None] = {}

    def add(script: bytes) -> None:
        seen.setdefault(script, None)

    prefix = cltv_prefix(locktime)
    for items, last in _input_items(tx):
        if last is not None:
            earlier = parse_cltv_script(last)
            if earlier is not None:
                add(prefix + earlier.tail)
            else:
                tokens = tokenize(last)
                if tokens is not None and _parse_multisig(tokens) is not None:
                    add(prefix + last)
        for pk in _pubkeys_in(items, last):
            add(pubkey_hash_script(locktime, hash160(pk)))
            add(pubkey_script(locktime, pk))
    return list(seen)


def _pubkeys_in(items: Iterable[bytes], last: bytes | None) -> Iterator[bytes]:
    for item in items:
        if _is_pubkey(item):
            yield item
    if last is not None:
        tokens = tokenize(last)
        if tokens is not None:
            for _, data in tokens:
                if _is_pubkey(data):
                    assert data is not None
                    yield data
