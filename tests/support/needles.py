"""Whether one transaction holds a needle where the syncer would look for it."""

from __future__ import annotations

from indexer.chain.block import InOpReturn, Needle, Tx


def tx_holds(tx: Tx, needle: Needle) -> bool:
    if isinstance(needle, InOpReturn):
        return any(o.script_pubkey[:1] == b"\x6a" and needle.data in o.script_pubkey
                   for o in tx.outputs)
    return needle in tx.raw
