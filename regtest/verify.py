"""Independent signature checks for the transactions the harness builds.

Not a script interpreter: it recognises the templates we sign (P2PKH, P2WPKH, P2SH-P2WPKH,
P2SH/P2WSH multisig, P2TR key path, P2TR script path over 32-byte keys) and checks every
signature against the sighash with libsecp256k1, plus hash commitments (key hashes, script
hashes, taproot control blocks). This is what lets tests say the blocks would pass a real
bitcoind, not just the project's own test node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from regtest.build import Transaction, TxOutput
from regtest.keys import hash160, is_low_s, sha256, verify_ecdsa, verify_schnorr
from regtest.scripts import OP_CHECKMULTISIG, p2pkh, pushed_data, tokenize
from regtest.sighash import legacy_sighash, segwit_v0_sighash, taproot_sighash
from regtest.taproot import TapLeaf, control_block_root, tweak_public_key


class SignatureError(AssertionError):
    """An input whose signatures or commitments do not check out."""


class UnsupportedScript(ValueError):
    """A spend of a script this checker does not know (not a verdict on the signature)."""


def verify_tx(tx: Transaction, spent: Sequence[TxOutput]) -> None:
    """Raise `SignatureError` unless every input's signatures verify."""
    if len(spent) != len(tx.inputs):
        raise ValueError("need one spent output per input")
    for i, prev in enumerate(spent):
        try:
            _verify_input(tx, i, spent, prev.script_pubkey)
        except SignatureError as e:
            raise SignatureError(f"input {i} of {tx.txid()}: {e}") from None


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise SignatureError(what)


def _ecdsa(pubkey: bytes, sig: bytes, digest: bytes) -> None:
    _check(len(sig) > 8 and is_low_s(sig[:-1]), "ECDSA signature is not low-S DER")
    _check(verify_ecdsa(pubkey, sig[:-1], digest), "ECDSA signature does not verify")


def _verify_input(tx: Transaction, i: int, spent: Sequence[TxOutput], spk: bytes) -> None:
    txin = tx.inputs[i]
    if len(spk) == 25 and spk[:3] == b"\x76\xa9\x14":
        sig, pubkey = pushed_data(txin.script_sig)
        _check(hash160(pubkey) == spk[3:23], "P2PKH key does not match the hash")
        _ecdsa(pubkey, sig, legacy_sighash(tx, i, spk, sig[-1]))
    elif len(spk) == 22 and spk[:2] == b"\x00\x14":
        _verify_p2wpkh(tx, i, spent, spk[2:], txin.witness)
    elif len(spk) == 23 and spk[:2] == b"\xa9\x14":
        pushes = pushed_data(txin.script_sig)
        redeem = pushes[-1]
        _check(hash160(redeem) == spk[2:22], "P2SH redeem script does not match the hash")
        if len(redeem) == 22 and redeem[:2] == b"\x00\x14":
            _verify_p2wpkh(tx, i, spent, redeem[2:], txin.witness)
        else:
            _verify_multisig(redeem, pushes[1:-1],
                             lambda ht: legacy_sighash(tx, i, redeem, ht))
    elif len(spk) == 34 and spk[:2] == b"\x00\x20":
        script = txin.witness[-1]
        _check(sha256(script) == spk[2:], "P2WSH witness script does not match the hash")
        _verify_multisig(script, txin.witness[1:-1],
                         lambda ht: segwit_v0_sighash(tx, i, script, spent[i].value, ht))
    elif len(spk) == 34 and spk[:2] == b"\x51\x20":
        _verify_taproot(tx, i, spent, spk[2:], txin.witness)
    else:
        raise UnsupportedScript(f"unrecognised scriptPubKey {spk.hex()}")


def _verify_p2wpkh(tx: Transaction, i: int, spent: Sequence[TxOutput], key_hash: bytes,
                   witness: list[bytes]) -> None:
    _check(len(witness) == 2, "P2WPKH witness must be <sig> <pubkey>")
    sig, pubkey = witness
    _check(hash160(pubkey) == key_hash, "P2WPKH key does not match the hash")
    _ecdsa(pubkey, sig, segwit_v0_sighash(tx, i, p2pkh(pubkey), spent[i].value, sig[-1]))


def _verify_multisig(script: bytes, sigs: Sequence[bytes],
                     digest_for: Callable[[int], bytes]) -> None:
    ops = tokenize(script)
    if not (len(ops) >= 4 and ops[-1][0] == OP_CHECKMULTISIG and 0x51 <= ops[0][0] <= 0x60):
        raise UnsupportedScript(f"not a bare multisig script: {script.hex()}")
    m = ops[0][0] - 0x50
    keys = [d for _, d in ops[1:-2] if d is not None]
    _check(len(sigs) == m, f"{len(sigs)} signatures for a {m}-of-{len(keys)}")
    k = 0
    for sig in sigs:  # CHECKMULTISIG walks keys forward, never back
        digest = digest_for(sig[-1])
        while k < len(keys) and not verify_ecdsa(keys[k], sig[:-1], digest):
            k += 1
        _check(k < len(keys), "multisig signature matches no remaining key")
        _check(is_low_s(sig[:-1]), "multisig signature is not low-S")
        k += 1


def _verify_taproot(tx: Transaction, i: int, spent: Sequence[TxOutput], output_key: bytes,
                    witness: list[bytes]) -> None:
    stack = list(witness)
    if len(stack) >= 2 and stack[-1][:1] == b"\x50":
        raise SignatureError("annexes are not used by the harness")
    if len(stack) == 1:
        sig = stack[0]
        ht = sig[64] if len(sig) == 65 else 0
        digest = taproot_sighash(tx, i, spent, ht)
        _check(verify_schnorr(output_key, sig[:64], digest), "key-path signature invalid")
        return
    control, leaf = stack[-1], TapLeaf(stack[-2], stack[-1][0] & 0xFE)
    _check(len(control) >= 33 and (len(control) - 33) % 32 == 0, "malformed control block")
    q, parity = tweak_public_key(control[1:33], control_block_root(control, leaf))
    _check(q == output_key and parity == control[0] & 1,
           "control block does not commit to the output key")
    keys = [d for d in pushed_data(leaf.script) if len(d) == 32]
    sigs = [s for s in stack[:-2] if len(s) in (64, 65)]
    for sig in sigs:
        ht = sig[64] if len(sig) == 65 else 0
        digest = taproot_sighash(tx, i, spent, ht, leaf.hash)
        _check(any(verify_schnorr(pk, sig[:64], digest) for pk in keys),
               "script-path signature matches no key of the leaf")
