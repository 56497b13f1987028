"""Per-chain constants the test node needs: genesis block, PoW limit, soft-fork heights.

Values are Bitcoin Core v28's `kernel/chainparams.cpp`. The genesis blocks are rebuilt
byte-exact from their published ingredients so that every chain starts where Core's does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from regtest.build import compact_size, push_data

# The genesis coinbase of main, testnet3, signet and regtest (Satoshi's headline and key).
_SATOSHI_HEADLINE = b"The Times 03/Jan/2009 Chancellor on brink of second bailout for banks"
_SATOSHI_SPK = bytes.fromhex(
    "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f3"
    "5504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac")
_TESTNET4_HEADLINE = (b"03/May/2024 000000000000000000001ebd58c244970b3aa9d783bb001011fbe8ea8e"
                      b"98e00e")
_TESTNET4_SPK = b"\x21" + b"\x00" * 33 + b"\xac"


def genesis_block(headline: bytes, script_pubkey: bytes, time: int, nonce: int,
                  bits: int) -> bytes:
    """Core's CreateGenesisBlock: one coinbase paying 50 BTC, version 1 header."""
    from indexer.chain.block import hash256  # local: keeps import cycles impossible

    # scriptSig = CScript() << 486604799 << CScriptNum(4) << headline
    sig = bytes.fromhex("04ffff001d0104") + push_data(headline)
    tx = (struct.pack("<i", 1) + b"\x01" + b"\x00" * 32 + b"\xff" * 4 + compact_size(len(sig))
          + sig + b"\xff" * 4 + b"\x01" + struct.pack("<q", 50 * 100_000_000)
          + compact_size(len(script_pubkey)) + script_pubkey + b"\x00" * 4)
    header = (struct.pack("<i", 1) + b"\x00" * 32 + hash256(tx)
              + struct.pack("<III", time, bits, nonce))
    return header + b"\x01" + tx


@dataclass(frozen=True)
class ChainParams:
    """What differs between chains, as far as the test node is concerned."""

    name: str  # Core's GetChainTypeString(): what getblockchaininfo reports as "chain"
    rpc_port: int
    datadir_subdir: str  # where Core puts the cookie: "" for main, "regtest" for regtest, ...
    pow_limit: int
    pow_no_retargeting: bool
    bip34_height: int
    bip66_height: int
    bip65_height: int
    segwit_height: int
    genesis_hash: str
    genesis_args: tuple[bytes, bytes, int, int, int]

    def genesis(self) -> bytes:
        return genesis_block(*self.genesis_args)

    @property
    def genesis_merkle_root(self) -> str:
        """The genesis coinbase's txid (its block's merkle root), which
        getrawtransaction refuses to serve."""
        # The header's merkle root sits at bytes 36..68, in internal byte order.
        return self.genesis()[36:68][::-1].hex()


_POW_LIMIT_MAIN = (1 << 224) - 1
CHAINS: dict[str, ChainParams] = {
    "main": ChainParams(
        "main", 8332, "", _POW_LIMIT_MAIN, False, 227931, 363725, 388381, 481824,
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        (_SATOSHI_HEADLINE, _SATOSHI_SPK, 1231006505, 2083236893, 0x1D00FFFF)),
    "test": ChainParams(
        "test", 18332, "testnet3", _POW_LIMIT_MAIN, False, 21111, 330776, 581885, 834624,
        "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
        (_SATOSHI_HEADLINE, _SATOSHI_SPK, 1296688602, 414098458, 0x1D00FFFF)),
    "testnet4": ChainParams(
        "testnet4", 48332, "testnet4", _POW_LIMIT_MAIN, False, 1, 1, 1, 1,
        "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
        (_TESTNET4_HEADLINE, _TESTNET4_SPK, 1714777860, 393743547, 0x1D00FFFF)),
    "signet": ChainParams(
        "signet", 38332, "signet", 0x00000377AE << 216, False, 1, 1, 1, 1,
        "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
        (_SATOSHI_HEADLINE, _SATOSHI_SPK, 1598918400, 52613770, 0x1E0377AE)),
    "regtest": ChainParams(
        "regtest", 18443, "regtest", 0x7FFFFF << 232, True, 1, 1, 1, 0,
        "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        (_SATOSHI_HEADLINE, _SATOSHI_SPK, 1296688602, 2, 0x207FFFFF)),
}


def chain_params(name: str) -> ChainParams:
    """Params by Core's chain name; raises ValueError naming the valid ones."""
    try:
        return CHAINS[name]
    except KeyError:
        raise ValueError(f"unknown chain {name!r} (one of: {', '.join(CHAINS)})") from None
