"""Bitcoin Core's JSON amounts (BTC numbers with 8 decimals) as integer satoshis.

Core writes an amount as a decimal number (`ValueFromAmount`: `0.00000001`, `50.00000000`);
the RPC client parses it as `Decimal`, never float, so the conversion can be exact and
refuse anything that is not a whole number of satoshis in Core's money range.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["COIN", "MAX_MONEY", "btc_to_sat"]

COIN = 100_000_000
#: Core's MAX_MONEY: no valid output or sum of outputs exceeds it.
MAX_MONEY = 21_000_000 * COIN


def btc_to_sat(value: Decimal | int | str) -> int:
    """Satoshis for a BTC amount as Core prints it; ValueError when it is not a whole number
    of satoshis in 0..MAX_MONEY, TypeError for a float (already rounded: never trusted)."""
    if isinstance(value, bool | float):
        raise TypeError(f"amount {value!r} must be a Decimal, int or str, not "
                        f"{type(value).__name__} (a float has already lost precision)")
    try:
        sats = Decimal(value).scaleb(8)
    except InvalidOperation:
        raise ValueError(f"amount {value!r} is not a number") from None
    if not sats.is_finite() or sats != sats.to_integral_value():
        raise ValueError(f"amount {value!r} BTC is not a whole number of satoshis")
    out = int(sats)
    if not 0 <= out <= MAX_MONEY:
        raise ValueError(f"amount {value!r} BTC is outside Core's money range")
    return out
