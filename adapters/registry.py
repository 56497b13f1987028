"""The one explicit list of protocol adapters (no discovery magic).

Adding a protocol is one package under `adapters/` and one line here. Imports are deferred
so that a broken or heavy adapter costs nothing to commands that do not use it.
"""

from __future__ import annotations

import importlib

from adapters.base import Adapter

#: name -> "module:Class"; order is the order adapters run and are printed in.
ADAPTERS: dict[str, str] = {
    "babylon": "adapters.babylon:BabylonAdapter",
    "stacks": "adapters.stacks.adapter:StacksAdapter",
    "powpeg": "adapters.powpeg.adapter:PowpegAdapter",
    "coredao": "adapters.coredao.adapter:CoreDaoAdapter",
}


def names() -> list[str]:
    return list(ADAPTERS)


def adapter_class(name: str) -> type[Adapter]:
    try:
        target = ADAPTERS[name]
    except KeyError:
        known = ", ".join(ADAPTERS) or "none"
        raise KeyError(f"unknown adapter {name!r} (known: {known})") from None
    module, _, cls = target.partition(":")
    found: type[Adapter] = getattr(importlib.import_module(module), cls)
    return found
