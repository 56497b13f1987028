"""Stacks: PoX burnchain operations (miner block-commits and the STX ops) and sBTC.

Modules by role: `params` (per-chain constants, params-file section), `addresses`
(output scripts, Bitcoin and Stacks addresses), `ops` (framing, non-commit op decoders),
`commit` (block-commit), `decode` (dispatch by epoch), `pox` (cycle/phase arithmetic,
per-cycle totals), `sbtc` (deposit/reclaim scripts, taproot, sweep marker), `sweeps`
(peg tracking in a block), `inspect` (one tx alone), `adapter` (`StacksAdapter`).
"""

from adapters.stacks.adapter import StacksAdapter

__all__ = ["StacksAdapter"]
