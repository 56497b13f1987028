"""Deterministic keys and the two signature schemes the harness needs.

A `Key` comes from a label (`Key.from_label("alice")` hashes the label into a secret), so a
scenario names its keys and every run derives the same ones: same keys, same signatures,
same block hashes on any node. ECDSA signatures are RFC 6979 deterministic and low-S (what
libsecp256k1 produces); Schnorr signatures (BIP340) use all-zero auxiliary randomness on
purpose, again so that two runs produce identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from coincurve import PrivateKey, PublicKey, PublicKeyXOnly

# Shared with the adapters; re-exported because the harness imports its hashes from here.
from indexer.chain.script import hash160 as hash160
from indexer.chain.script import sha256 as sha256
from indexer.chain.script import tagged_hash as tagged_hash

#: secp256k1 group order.
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: NOTE: BIP340 recommends fresh randomness; determinism matters more here, and the nonce
#: stays secret-dependent through the key and message anyway.
ZERO_AUX = b"\x00" * 32


@dataclass(frozen=True)
class Key:
    """A secp256k1 private key with its public forms (compressed and x-only)."""

    secret: int

    def __post_init__(self) -> None:
        if not 0 < self.secret < CURVE_ORDER:
            raise ValueError("a private key is an integer in [1, n-1]")

    @classmethod
    def from_label(cls, label: str) -> Key:
        """The key sha256(label) names; re-hashed in the (never seen) out-of-range case."""
        digest = sha256(label.encode())
        while not 0 < int.from_bytes(digest, "big") < CURVE_ORDER:
            digest = sha256(digest)
        return cls(int.from_bytes(digest, "big"))

    @classmethod
    def from_hex(cls, secret_hex: str) -> Key:
        return cls(int(secret_hex, 16))

    @property
    def secret_bytes(self) -> bytes:
        return self.secret.to_bytes(32, "big")

    @cached_property
    def _priv(self) -> PrivateKey:
        return PrivateKey(self.secret_bytes)

    @cached_property
    def pubkey(self) -> bytes:
        """The 33-byte compressed public key (what P2PKH/P2WPKH/multisig scripts hold)."""
        return bytes(self._priv.public_key.format(compressed=True))

    @property
    def xonly(self) -> bytes:
        """The 32-byte x-only public key (BIP340)."""
        return self.pubkey[1:]

    @property
    def has_even_y(self) -> bool:
        return self.pubkey[0] == 0x02

    def sign_ecdsa(self, digest: bytes) -> bytes:
        """DER-encoded, low-S ECDSA signature of a 32-byte digest (no hashtype byte)."""
        if len(digest) != 32:
            raise ValueError("ECDSA signs a 32-byte digest")
        return bytes(self._priv.sign(digest, hasher=None))

    def sign_schnorr(self, digest: bytes, aux: bytes = ZERO_AUX) -> bytes:
        """64-byte BIP340 signature of a 32-byte message."""
        return bytes(self._priv.sign_schnorr(digest, aux))

    def tweaked(self, tweak: bytes) -> Key:
        """The key whose x-only public key is this one's tweaked by `tweak` (BIP341).

        The secret is negated first when the public key has an odd y, as BIP341's
        `taproot_tweak_seckey` does, because x-only keys always mean the even-y point.
        """
        t = int.from_bytes(tweak, "big")
        if t >= CURVE_ORDER:
            raise ValueError("taproot tweak out of range")
        d = self.secret if self.has_even_y else CURVE_ORDER - self.secret
        return Key((d + t) % CURVE_ORDER)


def verify_ecdsa(pubkey: bytes, der_sig: bytes, digest: bytes) -> bool:
    """Check a DER signature (without hashtype byte) over a 32-byte digest."""
    try:
        return bool(PublicKey(pubkey).verify(der_sig, digest, hasher=None))
    except ValueError:
        return False


def verify_schnorr(xonly: bytes, sig: bytes, msg: bytes) -> bool:
    """Check a 64-byte BIP340 signature against an x-only key."""
    try:
        return bool(PublicKeyXOnly(xonly).verify(sig, msg))
    except (ValueError, TypeError):
        return False


def is_low_s(der_sig: bytes) -> bool:
    """Whether a DER signature's S is at most n/2 (BIP62 rule 5, standard since 0.11)."""
    r_len = der_sig[3]
    s_len = der_sig[5 + r_len]
    s = int.from_bytes(der_sig[6 + r_len:6 + r_len + s_len], "big")
    return s <= CURVE_ORDER // 2
