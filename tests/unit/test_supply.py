"""Issued supply from the subsidy schedule: exact integer sats, every chain's interval."""

from __future__ import annotations

import pytest

from indexer.supply import COIN, block_subsidy, issued_supply, share_of_supply


def test_subsidy_halves_on_schedule() -> None:
    assert block_subsidy(0) == 50 * COIN
    assert block_subsidy(209_999) == 50 * COIN
    assert block_subsidy(210_000) == 25 * COIN
    assert block_subsidy(840_000) == 312_500_000  # the 2024 halving: 3.125 BTC
    assert block_subsidy(64 * 210_000) == 0
    for chain in ("test", "testnet4", "signet"):
        assert block_subsidy(210_000, chain) == 25 * COIN


def test_regtest_halves_every_150_blocks() -> None:
    assert block_subsidy(149, "regtest") == 50 * COIN
    assert block_subsidy(150, "regtest") == 25 * COIN
    assert issued_supply(149, "regtest") == 150 * 50 * COIN


def test_issued_supply_matches_the_block_by_block_sum() -> None:
    running = 0
    for h in range(0, 3000):
        running += block_subsidy(h, "regtest")
        assert issued_supply(h, "regtest") == running


def test_known_mainnet_totals() -> None:
    assert issued_supply(-1) == 0
    assert issued_supply(0) == 50 * COIN  # genesis counts: it is part of the schedule
    assert issued_supply(209_999) == 10_500_000 * COIN
    assert issued_supply(839_999) == 19_687_500 * COIN  # before the fourth halving
    # the famous cap: 20,999,999.9769 BTC, reached once the subsidy is zero
    assert issued_supply(10**8) == 2_099_999_997_690_000
    assert issued_supply(10**8) == issued_supply(33 * 210_000)


def test_share_and_unknown_chain() -> None:
    assert share_of_supply(21 * COIN, 2100 * COIN) == pytest.approx(0.01)
    assert share_of_supply(5, 0) == 0.0
    with pytest.raises(ValueError, match="unknown chain"):
        issued_supply(10, "liquid")
