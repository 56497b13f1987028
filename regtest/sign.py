"""Input signers: what turns an unsigned transaction into a consensus-valid one.

A `Signer` is a function of a `SignContext` (the transaction, the input index, every spent
output) returning the input's `Solution` (scriptSig and witness). `sign_inputs` runs one
signer per input once the outputs are final, because every sighash commits to them.
Builders here cover the standard templates; protocol helpers write their own signers with
the `SignContext` methods (`ecdsa_v0`, `schnorr`, ...) for their scripts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from regtest.build import Transaction, TxOutput, push_data
from regtest.keys import Key
from regtest.scripts import multisig, p2wpkh, pubkey_hash_script_code, pushed_data
from regtest.sighash import (
    SIGHASH_ALL,
    SIGHASH_DEFAULT,
    legacy_sighash,
    segwit_v0_sighash,
    taproot_sighash,
)
from regtest.taproot import TapLeaf, TaprootOutput


@dataclass(frozen=True)
class Prevout:
    """An output to spend: where it is and what it holds."""

    txid: str
    vout: int
    value: int
    script_pubkey: bytes

    @property
    def output(self) -> TxOutput:
        return TxOutput(self.value, self.script_pubkey)

    @property
    def outpoint(self) -> tuple[str, int]:
        return (self.txid, self.vout)


@dataclass(frozen=True)
class Solution:
    """What unlocks one input."""

    script_sig: bytes = b""
    witness: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class SignContext:
    """One input of a transaction being signed, with the outputs all inputs spend."""

    tx: Transaction
    index: int
    spent: Sequence[TxOutput]

    @property
    def amount(self) -> int:
        return self.spent[self.index].value

    def ecdsa_legacy(self, key: Key, script_code: bytes, hash_type: int = SIGHASH_ALL) -> bytes:
        """A pre-segwit signature with its hashtype byte, ready for a scriptSig."""
        digest = legacy_sighash(self.tx, self.index, script_code, hash_type)
        return key.sign_ecdsa(digest) + bytes([hash_type])

    def ecdsa_v0(self, key: Key, script_code: bytes, hash_type: int = SIGHASH_ALL) -> bytes:
        """A BIP143 signature with its hashtype byte, ready for a witness."""
        digest = segwit_v0_sighash(self.tx, self.index, script_code, self.amount, hash_type)
        return key.sign_ecdsa(digest) + bytes([hash_type])

    def taproot_digest(self, hash_type: int = SIGHASH_DEFAULT,
                       leaf_hash: bytes | None = None) -> bytes:
        return taproot_sighash(self.tx, self.index, self.spent, hash_type, leaf_hash)

    def schnorr(self, key: Key, hash_type: int = SIGHASH_DEFAULT,
                leaf_hash: bytes | None = None) -> bytes:
        """A BIP340 signature: 64 bytes for SIGHASH_DEFAULT, else with the hashtype byte."""
        sig = key.sign_schnorr(self.taproot_digest(hash_type, leaf_hash))
        return sig if hash_type == SIGHASH_DEFAULT else sig + bytes([hash_type])


Signer = Callable[[SignContext], Solution]


def sign_inputs(tx: Transaction, spent: Sequence[TxOutput], signers: Sequence[Signer]) -> None:
    """Fill every input's scriptSig and witness, in place."""
    if not len(spent) == len(signers) == len(tx.inputs):
        raise ValueError("need one spent output and one signer per input")
    solutions = [signer(SignContext(tx, i, spent)) for i, signer in enumerate(signers)]
    for txin, sol in zip(tx.inputs, solutions, strict=True):
        txin.script_sig = sol.script_sig
        txin.witness = list(sol.witness)


def sign_p2pkh(key: Key, hash_type: int = SIGHASH_ALL) -> Signer:
    def signer(ctx: SignContext) -> Solution:
        sig = ctx.ecdsa_legacy(key, ctx.spent[ctx.index].script_pubkey, hash_type)
        return Solution(script_sig=push_data(sig) + push_data(key.pubkey))
    return signer


def sign_p2wpkh(key: Key, hash_type: int = SIGHASH_ALL) -> Signer:
    def signer(ctx: SignContext) -> Solution:
        sig = ctx.ecdsa_v0(key, pubkey_hash_script_code(key.pubkey), hash_type)
        return Solution(witness=[sig, key.pubkey])
    return signer


def sign_p2sh_p2wpkh(key: Key, hash_type: int = SIGHASH_ALL) -> Signer:
    inner = sign_p2wpkh(key, hash_type)

    def signer(ctx: SignContext) -> Solution:
        return Solution(script_sig=push_data(p2wpkh(key.pubkey)), witness=inner(ctx).witness)
    return signer


def _multisig_sigs(script: bytes, keys: Sequence[Key], sign: Callable[[Key], bytes]
                   ) -> list[bytes]:
    # NOTE: CHECKMULTISIG matches signatures to keys in script order; sort ours likewise.
    order = {pk: i for i, pk in enumerate(pushed_data(script))}
    missing = [k.pubkey.hex() for k in keys if k.pubkey not in order]
    if missing:
        raise ValueError(f"keys not in the multisig script: {missing}")
    return [sign(k) for k in sorted(keys, key=lambda k: order[k.pubkey])]


def sign_p2sh_multisig(keys: Sequence[Key], redeem_script: bytes,
                       hash_type: int = SIGHASH_ALL) -> Signer:
    """`OP_0 <sig>... <redeem script>` for a bare-multisig redeem script behind P2SH."""
    def signer(ctx: SignContext) -> Solution:
        sigs = _multisig_sigs(redeem_script, keys,
                              lambda k: ctx.ecdsa_legacy(k, redeem_script, hash_type))
        body = b"\x00" + b"".join(push_data(s) for s in sigs)
        return Solution(script_sig=body + push_data(redeem_script))
    return signer


def sign_p2wsh_multisig(keys: Sequence[Key], witness_script: bytes,
                        hash_type: int = SIGHASH_ALL) -> Signer:
    """`<> <sig>... <witness script>` (the empty item feeds CHECKMULTISIG's extra pop)."""
    def signer(ctx: SignContext) -> Solution:
        sigs = _multisig_sigs(witness_script, keys,
                              lambda k: ctx.ecdsa_v0(k, witness_script, hash_type))
        return Solution(witness=[b"", *sigs, witness_script])
    return signer


def sign_p2tr_key(key: Key, output: TaprootOutput | None = None,
                  hash_type: int = SIGHASH_DEFAULT) -> Signer:
    """Key-path spend; `output` gives the script tree whose root the key is tweaked with."""
    output = output if output is not None else TaprootOutput(key.xonly)
    if output.internal_key != key.xonly:
        raise ValueError("the key is not this output's internal key")
    tweaked = key.tweaked(output.tweak)

    def signer(ctx: SignContext) -> Solution:
        return Solution(witness=[ctx.schnorr(tweaked, hash_type)])
    return signer


def tapscript_signatures(ctx: SignContext, leaf: TapLeaf, keys: Sequence[Key],
                         hash_type: int = SIGHASH_DEFAULT) -> list[bytes]:
    """Witness items for a leaf of CHECKSIG/CHECKSIGADD over 32-byte keys.

    One item per key in the leaf, last key first (the first key's check pops the top of
    the stack); keys we do not hold get an empty signature, which CHECKSIGADD counts as
    "no vote" and CHECKSIG as false.
    """
    held = {k.xonly: k for k in keys}
    leaf_keys = [d for d in pushed_data(leaf.script) if len(d) == 32]
    return [ctx.schnorr(held[pk], hash_type, leaf.hash) if pk in held else b""
            for pk in reversed(leaf_keys)]


def sign_p2tr_script(output: TaprootOutput, leaf: TapLeaf, keys: Sequence[Key],
                     hash_type: int = SIGHASH_DEFAULT,
                     extra: Sequence[bytes] = ()) -> Signer:
    """Script-path spend: signatures (see `tapscript_signatures`), `extra` items, leaf script,
    control block."""
    control = output.control_block(leaf)

    def signer(ctx: SignContext) -> Solution:
        sigs = tapscript_signatures(ctx, leaf, keys, hash_type)
        return Solution(witness=[*sigs, *extra, leaf.script, control])
    return signer


def bare_multisig_script(m: int, keys: Sequence[Key]) -> bytes:
    """Convenience: the m-of-n redeem/witness script of these keys, in the given order."""
    return multisig(m, [k.pubkey for k in keys])
