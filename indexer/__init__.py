"""lockedbtc: bitcoin locked in L2 and staking protocols, derived from the chain alone."""

__version__ = "0.1.0"
