"""JSON text exactly as Bitcoin Core's UniValue writes it.

Python's `json` differs in ways a client can see: floats (`1.0` where Core writes `1`,
17 digits where Core writes 16), amounts (Core writes `0.00001000`) and spacing. Values are
plain JSON-able Python objects; `Decimal` stands for an amount (8 decimals, as ValueFromAmount).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def write(value: Any) -> str:
    """Compact JSON, as `UniValue::write()` with no indentation."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(v: Any, out: list[str]) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, str):
        # UniValue escapes only what JSON requires; non-ASCII goes out as UTF-8.
        out.append(json.dumps(v, ensure_ascii=False))
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, Decimal):
        out.append(f"{v:.8f}")
    elif isinstance(v, float):
        # UniValue(double): ostringstream with setprecision(16), i.e. printf("%.16g").
        out.append(f"{v:.16g}")
    elif isinstance(v, dict):
        out.append("{")
        for i, (k, item) in enumerate(v.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(k), ensure_ascii=False))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(v, list | tuple):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(v).__name__} as JSON")


def write_pretty(value: Any) -> str:
    """`UniValue::write(4)`: used inside some of Core's error messages."""
    return json.dumps(value, indent=4, ensure_ascii=False)
