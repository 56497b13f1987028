"""Core's BTC numbers become integer satoshis exactly, or are refused."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from indexer.chain.amount import MAX_MONEY, btc_to_sat


@pytest.mark.parametrize(("text", "sat"), [
    ("0.00000001", 1),
    ("0.00000000", 0),
    ("0", 0),
    ("50.00000000", 5_000_000_000),
    ("20999999.9769", 2_099_999_997_690_000),
    ("20999999.97690000", 2_099_999_997_690_000),
    ("21000000.00000000", MAX_MONEY),
    ("0.1", 10_000_000),
    ("1E-8", 1),
])
def test_core_amounts_convert_exactly(text: str, sat: int) -> None:
    # As the RPC client parses them: JSON numbers as Decimal, never float.
    assert btc_to_sat(json.loads(text, parse_float=Decimal)) == sat
    assert btc_to_sat(text) == sat


def test_a_float_is_refused_because_it_loses_satoshis() -> None:
    # 0.29 as a double times 1e8 is 28999999.999999996: truncated, one sat short.
    assert int(0.29 * 1e8) == 28_999_999
    assert btc_to_sat(json.loads("0.29", parse_float=Decimal)) == 29_000_000
    with pytest.raises(TypeError, match="float"):
        btc_to_sat(0.29)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["0.000000001", "-0.00000001", "21000000.00000001",
                                  "NaN", "Infinity", "abc"])
def test_amounts_that_are_not_whole_satoshis_in_range_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        btc_to_sat(text)


def test_integers_are_whole_bitcoins() -> None:
    assert btc_to_sat(1) == 100_000_000
    with pytest.raises(TypeError):
        btc_to_sat(True)  # type: ignore[arg-type]
