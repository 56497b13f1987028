"""PoX cycle/phase arithmetic on mainnet constants, and the params section rules."""

from __future__ import annotations

import pytest

from adapters.base import InOpReturn, ParamsError
from adapters.stacks import StacksAdapter, pox
from adapters.stacks.addresses import c32_address, c32_decode_address
from adapters.stacks.params import MAINNET_PEG_ADDRESSES, StacksParams

MAIN = StacksParams.builtin("main")


def test_mainnet_cycle_100_boundaries() -> None:
    """stacks.md §2: cycle 100 starts at 876,050, pays 876,051-878,050, prepares to 878,150."""
    assert pox.cycle_start(MAIN, 100) == 876_050
    assert pox.reward_cycle(MAIN, 876_050) == 100
    assert pox.phase(MAIN, 876_050) == "prepare"  # offset 0 pays nobody
    assert pox.phase(MAIN, 876_051) == pox.phase(MAIN, 878_050) == "reward"
    assert pox.phase(MAIN, 878_051) == pox.phase(MAIN, 878_149) == "prepare"
    assert pox.reward_cycle(MAIN, 878_149) == 100 and pox.reward_cycle(MAIN, 878_150) == 101
    assert pox.reward_cycle(MAIN, 666_049) is None


@pytest.mark.parametrize(("cycle", "start"), [(73, 819_350), (85, 844_550), (90, 855_050),
                                              (117, 911_750)])
def test_cycle_starts_quoted_in_the_spec(cycle: int, start: int) -> None:
    assert pox.cycle_start(MAIN, cycle) == start


def test_epochs_and_pox5_start() -> None:
    assert MAIN.epoch_at(781_550).name == "2.05" and MAIN.epoch_at(781_551).name == "2.1"
    assert MAIN.epoch_at(875_000).marker == 0x0D
    # 4.0 at 960,230 is in cycle 140; the single-output form starts with cycle 141
    assert pox.waterfall_start(MAIN) == 962_150


def test_sunset_burn_only_before_2_1_and_in_reward_phase() -> None:
    assert pox.expected_sunset_burn(MAIN, 766_000, 10_000) == 0  # before the window
    assert pox.expected_sunset_burn(MAIN, 777_714, 388) == 388 * 11_301 // 400_000
    assert pox.expected_sunset_burn(MAIN, 781_551, 10**6) == 0  # epoch 2.1
    prepare = pox.cycle_start(MAIN, 54)
    assert pox.expected_sunset_burn(MAIN, prepare, 10**6) == 0


def test_params_section_overrides_and_errors() -> None:
    a = StacksAdapter.from_params("regtest", {"magic": "T2", "reward_cycle_length": 20,
                                              "prepare_length": 4, "first_burn_height": 7,
                                              "epochs": {"2.05": 0, "2.1": 50}})
    assert a.params.magic == b"T2" and a.start_height() == 7
    assert a.params.epoch_at(49).name == "2.05"
    assert InOpReturn(b"T2") in a.needles({})
    assert MAIN.sbtc_peg_addresses == MAINNET_PEG_ADDRESSES
    for bad in ({"magic": "XYZ"}, {"prepare_length": 5000}, {"epochs": {"9.9": 1}},
                {"sbtc_peg_addresses": ["not-an-address"]}, {"magics": "X2"},
                {"first_burn_height": -1}):
        with pytest.raises(ParamsError):
            StacksAdapter.from_params("main", bad)


def test_c32_addresses_round_trip() -> None:
    assert c32_address(22, b"\x00" * 20) == "SP000000000000000000002Q6VF78"
    assert c32_address(26, b"\x00" * 20) == "ST000000000000000000002AMW42H"
    assert c32_decode_address("SP8H248H248H248H248H248H248H248H24ARTQ82") == (22, b"\x11" * 20)
    with pytest.raises(ValueError):
        c32_decode_address("SP000000000000000000002Q6VF79")  # bad checksum
