"""Where Bitcoin Core keeps its RPC cookie, and the default RPC port of each chain.

Layout as in Core (`common/args.cpp` GetDefaultDataDir, `chainparamsbase.cpp`):
the datadir is `~/.bitcoin` on Linux/BSD, `~/Library/Application Support/Bitcoin` on
macOS, `%LOCALAPPDATA%\\Bitcoin` on Windows (`%APPDATA%\\Bitcoin` when that older one
exists). Mainnet files live at the top of the datadir, the other chains in a
subdirectory. The cookie `.cookie` holds one line `__cookie__:<64 hex chars>`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import ConfigError

__all__ = [
    "CHAINS",
    "ChainInfo",
    "chain_by_name",
    "chain_by_port",
    "cookie_path",
    "default_datadir",
    "read_cookie",
]


@dataclass(frozen=True)
class ChainInfo:
    """A chain as `getblockchaininfo` names it, its datadir subdirectory and RPC port."""

    name: str
    subdir: str
    rpc_port: int


# Probe order when no URL is given: mainnet first (the common case), regtest last.
CHAINS: tuple[ChainInfo, ...] = (
    ChainInfo("main", "", 8332),
    ChainInfo("test", "testnet3", 18332),
    ChainInfo("testnet4", "testnet4", 48332),
    ChainInfo("signet", "signet", 38332),
    ChainInfo("regtest", "regtest", 18443),
)


def chain_by_name(name: str) -> ChainInfo | None:
    return next((c for c in CHAINS if c.name == name), None)


def chain_by_port(port: int) -> ChainInfo | None:
    return next((c for c in CHAINS if c.rpc_port == port), None)


def default_datadir() -> Path:
    """Bitcoin Core's default datadir on this platform."""
    if sys.platform == "win32":
        legacy = Path(os.environ.get("APPDATA", "")) / "Bitcoin"
        if legacy.exists():
            return legacy
        return Path(os.environ.get("LOCALAPPDATA", "")) / "Bitcoin"
    # Core reads $HOME itself (not the passwd entry) and falls back to "/".
    home = Path(os.environ.get("HOME") or "/")
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Bitcoin"
    return home / ".bitcoin"


def cookie_path(chain: ChainInfo, datadir: Path | None = None) -> Path:
    base = datadir if datadir is not None else default_datadir()
    return base / chain.subdir / ".cookie" if chain.subdir else base / ".cookie"


def read_cookie(path: Path) -> tuple[str, str]:
    """(user, password) from a cookie file. The content never appears in errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"the node's cookie file {path} does not exist",
            "is the node running with this datadir? otherwise give --rpc "
            "http://USER:PASS@HOST:PORT",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the node's cookie file {path} ({exc.strerror})",
            "run lockedbtc as a user that may read it (rpccookieperms=group on the node)",
        ) from None
    line = text.strip()
    user, sep, password = line.partition(":")
    if not sep or not user or not password:
        raise ConfigError(f"the cookie file {path} is not in the form USER:PASSWORD")
    return user, password
