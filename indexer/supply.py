"""Issued bitcoin supply at a height, from the subsidy schedule alone, in exact integer sats.

The block subsidy starts at 50 BTC and halves (integer right shift, as Bitcoin Core's
`GetBlockSubsidy` does) every `halving_interval` blocks: 210,000 on every public chain,
150 on regtest. After 64 halvings it is zero. The issued supply at height H is the sum of
the subsidies of blocks 0..H inclusive; the genesis block's 50 BTC is counted even though
it can never be spent, because it is part of the schedule analysts compare against.
Fees are not issuance and coins burned or lost are not subtracted.
"""

from __future__ import annotations

COIN = 100_000_000
INITIAL_SUBSIDY_SAT = 50 * COIN

#: Blocks between halvings for each chain name `getblockchaininfo` reports.
HALVING_INTERVAL: dict[str, int] = {
    "main": 210_000,
    "test": 210_000,
    "testnet4": 210_000,
    "signet": 210_000,
    "regtest": 150,
}


def halving_interval(chain: str) -> int:
    """The halving interval of `chain`; ValueError for a chain name we do not know."""
    try:
        return HALVING_INTERVAL[chain]
    except KeyError:
        raise ValueError(f"unknown chain {chain!r}; known: {', '.join(HALVING_INTERVAL)}"
                         ) from None


def block_subsidy(height: int, chain: str = "main") -> int:
    """The subsidy of the block at `height` in sats (Core's GetBlockSubsidy)."""
    if height < 0:
        raise ValueError(f"negative height {height}")
    halvings = height // halving_interval(chain)
    # NOTE: Core returns 0 from 64 halvings on; a shift by >= 64 is undefined in C++.
    return 0 if halvings >= 64 else INITIAL_SUBSIDY_SAT >> halvings


def issued_supply(height: int, chain: str = "main") -> int:
    """Sats issued by blocks 0..`height` inclusive; 0 below height 0 (nothing mined yet).

    Closed form per halving era, so it costs at most 64 steps at any height.
    """
    if height < 0:
        return 0
    interval = halving_interval(chain)
    blocks = height + 1
    total = 0
    era = 0
    while blocks > 0 and era < 64:
        in_era = min(blocks, interval)
        total += in_era * (INITIAL_SUBSIDY_SAT >> era)
        blocks -= in_era
        era += 1
    return total


def share_of_supply(locked_sat: int, supply_sat: int) -> float:
    """`locked_sat` as a fraction of `supply_sat` (a float: for display and plots only)."""
    return locked_sat / supply_sat if supply_sat > 0 else 0.0
