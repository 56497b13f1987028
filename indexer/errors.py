"""The error tree. Two families: operator errors (one line with the fix, exit code 2)
and bugs (`InvariantError`, a traceback with context).

NOTE: messages never carry credentials: URLs are passed through `redact()` first.
"""

from __future__ import annotations

import re


class LockedbtcError(Exception):
    """Base of every error the project raises on purpose."""


class OperatorError(LockedbtcError):
    """Something the operator can fix (config, node, database): printed as one line."""

    exit_code = 2

    def __init__(self, summary: str, hint: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.summary} ({self.hint})" if self.hint else self.summary


class ConfigError(OperatorError):
    """Bad flags, environment or params file."""


class NodeError(OperatorError):
    """The node is unreachable, refuses our credentials, or cannot serve what we need."""


class StorageError(OperatorError):
    """The database is unreachable or refuses the connection."""


class ChainMismatch(OperatorError):
    """The node's chain is not the one the database or params were built for."""


class InvariantError(LockedbtcError):
    """A bug: state that must never happen. Never caught to be skipped."""


class BadBlockError(LockedbtcError):
    """The node served a block that does not parse or does not fit the chain."""

    exit_code = 3


_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def redact(text: str) -> str:
    """Remove `user:password@` from every URL in `text`."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
