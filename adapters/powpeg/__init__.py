"""Rootstock Powpeg (the RSK Bridge) seen from Bitcoin alone: federation UTXOs, peg-ins,
peg-outs, migrations and flyover deposits. Spec: shared/specs/rootstock.md."""

from adapters.powpeg.adapter import PowpegAdapter

__all__ = ["PowpegAdapter"]
