"""The compiled block walk (`indexer/chain/_outline.c`) against the pure-Python one.

Both must accept exactly the blocks `parse_block` accepts and, when they accept one, give
the same outline (every offset, every outpoint, every OP_RETURN) and the header's merkle
root; the needle search and the tracked-outpoint set must answer as the Python code does.
Checked on mainnet block 864790, on blocks made of every shared vector, on seeded
mutations of both and on random bytes, with the SHA-NI and the portable SHA-256.

Without a C compiler at install time the compiled walk is absent and these tests skip
(with the reason); CI sets LOCKEDBTC_REQUIRE_NATIVE=1, which turns that skip into a
failure, so a build that silently fell back to Python cannot pass there.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.chain import block as blockmod
from indexer.chain.block import (
    BlockOutline,
    InOpReturn,
    OutpointKeys,
    ParseError,
    hash256,
    outline_block,
    parse_block,
)
from tests.conftest import REPO
from tests.fuzz.corpus import mainnet_block, mutate, no_hang, vector_txs

native = blockmod._native

if native is None and os.environ.get("LOCKEDBTC_REQUIRE_NATIVE"):
    raise AssertionError("LOCKEDBTC_REQUIRE_NATIVE is set but indexer.chain._outline is not "
                         "built: pip install -e . needs a C compiler and Python headers")

pytestmark = pytest.mark.skipif(
    native is None, reason="the compiled walk is not built here (no C compiler at install)")


@pytest.fixture(params=["sha-ni", "portable"])
def sha(request: pytest.FixtureRequest) -> Iterator[str]:
    """Both SHA-256 transforms (SHA-NI only where the CPU has it)."""
    assert native is not None
    if request.param == "sha-ni" and native.sha256_impl() != "sha-ni":
        pytest.skip("this CPU has no SHA extensions")
    native.force_portable_sha256(request.param == "portable")
    yield str(request.param)
    native.force_portable_sha256(False)


def _python(raw: bytes) -> BlockOutline | ParseError:
    saved = blockmod._native
    blockmod._native = None
    try:
        return outline_block(raw)
    except ParseError as exc:
        return exc
    finally:
        blockmod._native = saved


def _compiled(raw: bytes) -> BlockOutline | ParseError:
    try:
        return outline_block(raw)
    except ParseError as exc:
        return exc


def _same(raw: bytes) -> None:
    """Compiled and Python walks agree on `raw`: same outline, or the same error."""
    py, c = _python(raw), _compiled(raw)
    if isinstance(py, ParseError) or isinstance(c, ParseError):
        assert isinstance(py, ParseError) and isinstance(c, ParseError), (py, c)
        assert str(py) == str(c)
        return
    for field in ("header", "tx_count", "spent", "tx_starts", "in_starts", "wit_starts",
                  "op_returns"):
        assert getattr(py, field) == getattr(c, field), field
    assert c.root is not None and py.root is None
    # the compiled root is the Python merkle root of the same bytes
    assert c.merkle_root(raw) == py.merkle_root(raw)


def _block_of(txs: list[bytes], seed: int = 0) -> bytes:
    """A block (header not valid, which the walk does not check) holding `txs`."""
    rng = random.Random(seed)
    header = struct.pack("<i", 2) + rng.randbytes(64) + struct.pack("<III", 0, 0, 0)
    n = len(txs)
    count = bytes([n]) if n < 0xFD else b"\xfd" + struct.pack("<H", n)
    return header + count + b"".join(txs)


def _vector_block() -> bytes:
    txs = [raw for _, raw in vector_txs()]
    if not txs:
        pytest.skip("../shared/data is absent: no vectors to build blocks from")
    return _block_of(txs)


def test_mainnet_block_outline_and_merkle_root(sha: str) -> None:
    raw = mainnet_block()
    if raw is None:
        pytest.skip("../shared/data is absent: no mainnet block 864790")
    out = outline_block(raw)
    assert out.root is not None
    assert out.merkle_root(raw) == parse_block(raw).header.merkle_root
    assert out.tx_count == len(parse_block(raw).txs) == 5043
    _same(raw)


def test_vectors_in_one_block(sha: str) -> None:
    raw = _vector_block()
    _same(raw)
    out = outline_block(raw)
    block = parse_block(raw)
    assert out.merkle_root(raw) == block.compute_merkle_root()


def test_seeded_mutations_agree(sha: str) -> None:
    seeds = [b for b in (mainnet_block(), _vector_block()) if b is not None]
    rng = random.Random(7)
    with no_hang(120):
        for base in seeds:
            for _ in range(150):
                _same(mutate(base, rng))
            for cut in sorted(rng.sample(range(81, len(base)), 20)):
                _same(base[:cut])


def test_random_bytes_agree() -> None:
    rng = random.Random(11)
    with no_hang(60):
        for _ in range(2000):
            _same(rng.randbytes(rng.randint(0, 400)))
        for _ in range(500):  # a plausible header and tx count, random after
            _same(rng.randbytes(80) + bytes([rng.randint(1, 4)]) +
                  rng.randbytes(rng.randint(0, 300)))


def test_hash256_matches_hashlib(sha: str) -> None:
    assert native is not None
    rng = random.Random(3)
    for n in [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_000]:
        data = rng.randbytes(n)
        want = hashlib.sha256(hashlib.sha256(data).digest()).digest()
        assert native.hash256(data) == want == hash256(data)


def _needles(raw: bytes, out: BlockOutline, rng: random.Random) -> list[bytes | InOpReturn]:
    found: list[bytes | InOpReturn] = []
    for k in (1, 2, 3, 4, 8, 33):
        for _ in range(15):
            at = rng.randrange(80, len(raw) - k)
            found += [raw[at:at + k], InOpReturn(raw[at:at + k])]
    spans = out.op_returns
    for i in range(0, min(len(spans), 200), 2):
        script = raw[spans[i]:spans[i + 1]]
        found += [InOpReturn(script[:2]), InOpReturn(script[3:9]), InOpReturn(script),
                  InOpReturn(script + b"\x00")]
    return [*found, b"", InOpReturn(b""), InOpReturn(b"X2"), InOpReturn(b"SAT+"),
            rng.randbytes(32)]


def test_needle_search_matches_python() -> None:
    blocks = [b for b in (mainnet_block(), _vector_block()) if b is not None]
    rng = random.Random(5)
    for raw in blocks:
        out = outline_block(raw)
        needles = _needles(raw, out, rng)
        compiled = out.find_needles(raw, needles)
        one_by_one = {n: out.txs_containing(raw, n) for n in needles}
        saved = blockmod._native
        blockmod._native = None
        try:
            assert out.find_needles(raw, needles) == compiled == one_by_one
        finally:
            blockmod._native = saved
        assert any(compiled.values()), "a comparison of nothing but misses"


def test_outpoint_set_behaves_like_a_set() -> None:
    rng = random.Random(9)
    keys = OutpointKeys()
    model: set[bytes] = set()
    pool = [rng.randbytes(32) + struct.pack("<I", rng.randrange(4)) for _ in range(3000)]
    for step in range(20_000):  # grows through many resizes, with tombstones
        k = rng.choice(pool)
        if rng.random() < 0.6:
            keys.add(k)
            model.add(k)
        else:
            keys.discard(k)
            model.discard(k)
        if step % 997 == 0:
            assert len(keys) == len(model)
    assert len(keys) == len(model)
    assert all((k in keys) == (k in model) for k in pool)
    spent = b"".join(rng.sample(pool, 500))
    want = [i for i in range(500) if spent[36 * i:36 * i + 36] in model]
    assert keys.inputs_in(spent) == want
    with pytest.raises(ValueError, match="36 bytes"):
        keys.add(b"short")


def test_tracked_spends_match_python_on_the_mainnet_block() -> None:
    raw = mainnet_block()
    if raw is None:
        pytest.skip("../shared/data is absent: no mainnet block 864790")
    out = outline_block(raw)
    rng = random.Random(2)
    records = [out.spent[i:i + 36] for i in range(0, len(out.spent), 36)]
    for size in (1, 5, 50, 5000):
        tracked = set(rng.sample(records, min(size, len(records))))
        tracked |= {rng.randbytes(36) for _ in range(size)}
        assert out.txs_spending(OutpointKeys(tracked)) == out.txs_spending(tracked) != set()
    assert not out.txs_spending(OutpointKeys({rng.randbytes(36)}))


def test_sha256_against_nist_vectors_and_a_naive_reference(tmp_path: Path) -> None:
    """bench/sha256_check.c: NIST vectors, every length 0..200 and random messages, whole
    and in random pieces, both transforms against a naive FIPS 180-4 implementation."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler on this machine")
    exe = tmp_path / "sha256_check"
    build = subprocess.run([cc, "-O2", "-std=c99", "-o", str(exe),
                            str(REPO / "bench" / "sha256_check.c")],
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    res = subprocess.run([str(exe), "--no-bench"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "checks portable: ok" in res.stdout
