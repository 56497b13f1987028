"""RPC credentials as Bitcoin Core handles them: rpcuser/rpcpassword or the cookie file.

Core writes `<datadir>[/<chain dir>]/.cookie` containing `__cookie__:<64 hex>` (no newline)
when no -rpcpassword is given, and deletes it on shutdown.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

COOKIE_USER = "__cookie__"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def check_header(self, header: str | None) -> bool:
        """Whether an Authorization header carries these credentials (Basic only)."""
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        expected = f"{self.user}:{self.password}"
        return hmac.compare_digest(decoded.encode(), expected.encode())


def random_credentials() -> Credentials:
    return Credentials(f"user_{secrets.token_hex(4)}", secrets.token_hex(16))


def cookie_path(datadir: Path, chain_subdir: str) -> Path:
    return datadir / chain_subdir / ".cookie" if chain_subdir else datadir / ".cookie"


def write_cookie(path: Path) -> Credentials:
    """Generate and write a cookie as Core's GenerateAuthCookie does (owner-only file)."""
    creds = Credentials(COOKIE_USER, secrets.token_hex(32))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".cookie.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{creds.user}:{creds.password}")
    tmp.replace(path)
    return creds


def delete_cookie(path: Path) -> None:
    path.unlink(missing_ok=True)
