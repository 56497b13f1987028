"""`inspect tx`: every adapter's reading of one raw transaction, nothing indexed."""

from __future__ import annotations

from typing import Any

from indexer.app import adapters_for
from indexer.chain.block import ParseError, parse_tx
from indexer.config import Settings
from indexer.errors import OperatorError


def inspect_hex(settings: Settings, hex_: str, chain: str) -> list[dict[str, Any]]:
    try:
        raw = bytes.fromhex(hex_.strip())
    except ValueError:
        raise OperatorError("the transaction is not hex",
                            "pass the raw transaction as `getrawtransaction TXID` prints it"
                            ) from None
    try:
        tx = parse_tx(raw)
    except ParseError as exc:
        raise OperatorError(f"not a valid transaction: {exc}") from None
    found: list[dict[str, Any]] = []
    for adapter in adapters_for(settings, chain):
        found.extend(adapter.inspect(tx, chain))
    return found
