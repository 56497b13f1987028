"""Conversions between the parser's read-only `Tx` views and buildable `Transaction`s.

Lets tests and protocol helpers load a real transaction (a published vector, a fixture)
into the mutable form the signers work on.
"""

from __future__ import annotations

from indexer.chain.block import parse_tx, txid_to_hex
from regtest.build import Transaction, TxInput, TxOutput


def tx_from_bytes(raw: bytes) -> Transaction:
    """A `Transaction` equal to the serialised `raw` (witness included)."""
    view = parse_tx(raw)
    witnesses = view.witnesses
    inputs = [TxInput(txid_to_hex(i.prev_txid), i.prev_vout, i.script_sig, i.sequence,
                      list(witnesses[n])) for n, i in enumerate(view.inputs)]
    outputs = [TxOutput(o.value, o.script_pubkey) for o in view.outputs]
    return Transaction(inputs, outputs, view.version, view.locktime)


def tx_from_hex(raw_hex: str) -> Transaction:
    return tx_from_bytes(bytes.fromhex(raw_hex))
