"""Core DAO self-custodial BTC staking: `SAT+` OP_RETURN stakes locked under CLTV scripts.

`params` (chain id, start height), `decode` (the OP_RETURN payload), `scripts` (redeem
script shapes, rebuilding, P2SH/P2WSH matching), `adapter` (`CoreDaoAdapter`).
"""

from adapters.coredao.adapter import CoreDaoAdapter

__all__ = ["CoreDaoAdapter"]
