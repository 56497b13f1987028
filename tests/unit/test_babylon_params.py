"""Babylon params: built-in versions, selection by height (§3.1), validation, OP_RETURN decode."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from adapters.babylon import BabylonAdapter
from adapters.babylon.adapter import NEVER
from adapters.babylon.decode import find_candidate, parse_v0_payload
from adapters.babylon.params import builtin_params, parse_params
from adapters.base import InOpReturn, ParamsError
from indexer.chain.block import TxOut
from tests.conftest import load_json


def test_builtin_mainnet_params_equal_the_official_file() -> None:
    official = load_json("babylon", "mainnet-global-params.json")
    params = builtin_params("main")
    assert len(params.versions) == len(official["versions"]) == 3
    for v, o in zip(params.versions, official["versions"], strict=True):
        assert v.activation_height == o["activation_height"]
        assert v.staking_cap == o.get("staking_cap")
        assert v.cap_height == o.get("cap_height")
        assert v.unbonding_fee == o["unbonding_fee"]
        assert sorted(k[2:] for k in o["covenant_pks"]) == [k.hex() for k in v.covenant_pks]
    assert builtin_params("signet").tags == (b"bbt4",)
    assert len(builtin_params("signet").versions) == 5


@pytest.mark.parametrize(("height", "version"), [
    (857909, None), (857910, 0), (864789, 0), (864790, 1), (864799, 1), (864800, 1),
    (874087, 1), (874088, 2), (875087, 2), (900000, 2),
])
def test_version_is_the_last_activated_one(height: int, version: int | None) -> None:
    pv = builtin_params("main").at(height)
    assert (pv.version if pv else None) == version


def test_regtest_without_params_is_idle_and_says_so() -> None:
    a = BabylonAdapter.from_params("regtest", None)
    assert not a.enabled
    assert a.start_height() == NEVER
    assert a.needles({}) == ()
    assert BabylonAdapter.from_params("main", None).start_height() == 857910


def test_a_params_section_replaces_the_builtin_versions() -> None:
    section = copy.deepcopy(load_json("babylon", "mainnet-global-params.json"))
    section["versions"] = section["versions"][:1]
    section["versions"][0]["tag"] = "72677431"
    section["versions"][0]["activation_height"] = 200
    a = BabylonAdapter.from_params("main", section)
    assert a.start_height() == 200
    assert a.params.tags == (b"rgt1",)
    assert a.needles({})[0] == InOpReturn(b"\x6a\x47rgt1\x00")


def _mainnet() -> dict[str, Any]:
    section: dict[str, Any] = copy.deepcopy(load_json("babylon", "mainnet-global-params.json"))
    return section


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda s: s["versions"][1].update(version=5), "consecutive"),
    (lambda s: s["versions"][1].update(activation_height=857910), "greater than"),
    (lambda s: s["versions"][0].update(cap_height=900000), "exactly one"),
    (lambda s: s["versions"][1].pop("cap_height"), "neither"),
    (lambda s: s["versions"][0].update(tag="bbn1"), "4 bytes in hex"),
    (lambda s: s["versions"][0]["covenant_pks"].__setitem__(0, "02" + "00" * 32),
     "not a point"),
    (lambda s: s["versions"][0]["covenant_pks"].__setitem__(0, "d45c70" * 10), "33-byte"),
    (lambda s: s["versions"][0].update(covenant_quorum=10), "covenant_quorum"),
    (lambda s: s["versions"][0].update(min_staking_amount=64500), r"unbonding_fee \+ 1000"),
    (lambda s: s["versions"][0].update(max_staking_time=70000), "max_staking_time"),
    (lambda s: s["versions"][0].update(staking_cap=1000), "must exceed"),
    (lambda s: s["versions"][0].update(confirmation_depth=1), "confirmation_depth"),
    (lambda s: s["versions"][0].update(unbonding_fee=True), "integer"),
    (lambda s: s.update(extra=1), "unknown key"),
])
def test_bad_params_are_refused_with_a_clear_message(mutate: Any, message: str) -> None:
    section = _mainnet()
    mutate(section)
    with pytest.raises(ParamsError, match=message):
        parse_params(section)


def test_params_errors_name_the_version() -> None:
    section = _mainnet()
    section["versions"][2]["unbonding_time"] = 0
    with pytest.raises(ParamsError, match=r"versions\[2\].*unbonding_time"):
        BabylonAdapter.from_params("main", json.loads(json.dumps(section)))


# ---------------------------------------------------------------- the OP_RETURN

STAKER = "0b93d2d388a2b89c2ba2ef28e99c0cfc20735b693cb8b2350fe8aceca2d0f393"
FP = "db9160428e401753dc1a9952ffd4fa3386c7609cf8411d2b6d79c42323ca9923"
GOOD = bytes.fromhex("6a4762626e3100" + STAKER + FP + "fa00")


def test_the_71_byte_payload_reads_big_endian_time() -> None:
    p = parse_v0_payload(GOOD)
    assert p is not None
    assert (p.tag, p.staker_pk.hex(), p.finality_provider_pk.hex(), p.staking_time) == (
        b"bbn1", STAKER, FP, 64000)


@pytest.mark.parametrize("script", [
    GOOD[:-1],  # 72 bytes
    GOOD + b"\x00",  # 74 bytes
    b"\x6a\x4c\x47" + GOOD[2:],  # PUSHDATA1 instead of a direct push
    GOOD[:6] + b"\x01" + GOOD[7:],  # version 1
    GOOD[:7] + b"\x00" * 32 + GOOD[39:],  # staker key 0: not on the curve
])
def test_look_alike_payloads_do_not_parse(script: bytes) -> None:
    assert parse_v0_payload(script) is None


def _outs(*scripts: bytes) -> list[TxOut]:
    return [TxOut(1000, s) for s in scripts]


def test_quick_filter_and_full_parse_rules() -> None:
    p2tr = b"\x51\x20" + b"\x11" * 32
    # The OP_RETURN may be anywhere; one output alone is never a staking tx.
    c = find_candidate(_outs(p2tr, p2tr, GOOD), b"bbn1")
    assert c is not None and c.vout == 2 and c.payload is not None
    assert find_candidate(_outs(GOOD), b"bbn1") is None
    # Another chain's tag, version 1 and wrong length are not candidates at all.
    assert find_candidate(_outs(p2tr, GOOD), b"bbt4") is None
    assert find_candidate(_outs(p2tr, GOOD[:6] + b"\x01" + GOOD[7:]), b"bbn1") is None
    assert find_candidate(_outs(p2tr, GOOD + b"\x00"), b"bbn1") is None
    # Two tagged outputs, or a second V0 payload with any tag: rejected with a reason.
    two = find_candidate(_outs(p2tr, GOOD, GOOD), b"bbn1")
    assert two is not None and two.payload is None and "exactly one" in (two.reason or "")
    other_tag = GOOD[:2] + b"bbt4" + GOOD[6:]
    multi = find_candidate(_outs(p2tr, GOOD, other_tag), b"bbn1")
    assert multi is not None and "multiple op return" in (multi.reason or "")
    bad_key = GOOD[:7] + b"\x00" * 32 + GOOD[39:]
    bad = find_candidate(_outs(p2tr, bad_key), b"bbn1")
    assert bad is not None and bad.payload is None and "x-only" in (bad.reason or "")
