"""The project's own test node: a stand-in for Bitcoin Core's RPC and REST interfaces.

It accepts blocks by `submitblock` (checking structure, linkage, PoW, BIP34 and witness
commitments, not scripts), keeps side chains, follows the most-work chain, and answers the
calls the indexer makes with Bitcoin Core v28's shapes, HTTP statuses and error codes.
Start it in-process with `TestNode(...).start()` or as `python -m regtest serve ...`.
"""

from __future__ import annotations

from regtest.node.chainstate import Chainstate
from regtest.node.context import DEFAULT_WARMUP_STATUS
from regtest.node.params import CHAINS, ChainParams, chain_params
from regtest.node.server import TestNode

__all__ = ["CHAINS", "DEFAULT_WARMUP_STATUS", "ChainParams", "Chainstate", "TestNode",
           "chain_params"]
