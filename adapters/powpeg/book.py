"""The federation set as adapter state: known addresses, liveness, verification.

Kept as one JSON list under the state key `federations` so rollback is the core's generic
rollback of state. Each entry:

  address, script_pubkey (hex), name, source ("builtin" | "params" | "migration" | "script"),
  from_height, retired_height (BTC height from which deposits are no longer credited; None =
  live), retired_observed (True once a migration out of it was seen: observation beats the
  built-in approximation), redeem_script (hex | None), template ("multisig" | "erp" |
  "erp-nonstandard" | None), verified (the redeem script was seen, hashes to the address and
  has the federation template), verification (why not, when a revealed script failed),
  learned_txid / learned_height (for federations found on chain).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from adapters.powpeg.addresses import address_of
from adapters.powpeg.federation import ErpKeySet, FedSpend, Redeem, check_redeem, parse_redeem
from adapters.powpeg.params import PowpegParams

STATE_KEY = "federations"


def _entry_from_seed(p: PowpegParams, i: int) -> dict[str, Any]:
    s = p.federations[i]
    e: dict[str, Any] = {
        "address": s.address, "script_pubkey": s.script_pubkey.hex(), "name": s.name,
        "source": s.source, "from_height": s.from_height, "retired_height": s.retired_height,
        "retired_observed": False, "redeem_script": None, "template": None,
        "verified": False, "verification": "no redeem script seen yet",
        "learned_txid": None, "learned_height": None,
    }
    if s.redeem_script is not None:
        red = parse_redeem(s.redeem_script)
        if red is not None:
            _apply_verification(e, red, s.script_pubkey, p.erp_sets)
    return e


def _apply_verification(e: dict[str, Any], red: Redeem, spk: bytes,
                        erp_sets: Sequence[ErpKeySet]) -> None:
    problem = check_redeem(spk, red, erp_sets)
    if problem is None:
        e.update(redeem_script=red.inner.hex(), template=red.template, verified=True,
                 verification="redeem script matches the address and template")
    else:
        e.update(verified=False, verification=f"mismatch: {problem}")


class FedBook:
    """Mutable working copy of the federation set for one block (or one inspect)."""

    def __init__(self, entries: Iterable[dict[str, Any]], params: PowpegParams) -> None:
        self.params = params
        self.entries: list[dict[str, Any]] = [dict(e) for e in entries]
        self.by_spk: dict[bytes, dict[str, Any]] = {
            bytes.fromhex(e["script_pubkey"]): e for e in self.entries}
        self.by_address: dict[str, dict[str, Any]] = {e["address"]: e for e in self.entries}
        self.changed = False

    @classmethod
    def seeded(cls, params: PowpegParams) -> FedBook:
        return cls([_entry_from_seed(params, i) for i in range(len(params.federations))],
                   params)

    @classmethod
    def from_state(cls, state: Any, params: PowpegParams) -> FedBook:
        if not state:
            return cls.seeded(params)
        return cls(state, params)

    def get(self, spk: bytes) -> dict[str, Any] | None:
        return self.by_spk.get(spk)

    def is_live(self, e: dict[str, Any], height: int | None) -> bool:
        """Active or retiring at `height` (None: current rules, every known one counts)."""
        retired = e.get("retired_height")
        return height is None or retired is None or height < retired

    # -- learning
    def proves_federation(self, spend: FedSpend) -> bool:
        """Script evidence that an unlisted federation signed (rootstock.md §1.4 item 4)."""
        red = spend.redeem
        if red.is_erp and any(s.matches(red) for s in self.params.erp_sets):
            return True
        return self.params.trust_flyover and red.flyover_hash is not None

    def add(self, spk: bytes, *, source: str, height: int | None, txid: str | None,
            redeem: Redeem | None = None) -> dict[str, Any]:
        e: dict[str, Any] = {
            "address": address_of(spk, self.params.chain) or spk.hex(),
            "script_pubkey": spk.hex(), "name": None, "source": source,
            "from_height": height, "retired_height": None, "retired_observed": False,
            "redeem_script": None, "template": None, "verified": False,
            "verification": "learned from a migration; no redeem script seen yet",
            "learned_txid": txid, "learned_height": height,
        }
        if redeem is not None:
            _apply_verification(e, redeem, spk, self.params.erp_sets)
        self.entries.append(e)
        self.by_spk[spk] = e
        self.by_address[e["address"]] = e
        self.changed = True
        return e

    def verify_with(self, e: dict[str, Any], spend: FedSpend) -> None:
        """A spend revealed this federation's redeem script: check it once."""
        if e.get("verified"):
            return
        _apply_verification(e, spend.redeem, bytes.fromhex(e["script_pubkey"]),
                            self.params.erp_sets)
        self.changed = True

    def note_migration(self, spenders: Iterable[dict[str, Any]], to: dict[str, Any],
                       height: int) -> None:
        """First migration out of a federation: it is retiring; the target is active."""
        if to.get("from_height") is None or to["from_height"] > height:
            to["from_height"] = height
            self.changed = True
        for f in spenders:
            if f is to or f.get("retired_observed"):
                continue
            f["retired_height"] = height + self.params.retiring_window(height)
            f["retired_observed"] = True
            self.changed = True

    def state(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.entries]


def needles(entries: Iterable[dict[str, Any]], params: PowpegParams) -> list[bytes]:
    """Bytes that any block touching a federation contains: its scriptPubKeys (peg-ins,
    change, migrations), one emergency key per ERP set (every ERP spend reveals the keys)
    and the redeem scripts of plain-multisig federations (their spends reveal them)."""
    out: list[bytes] = []
    for e in entries:
        out.append(bytes.fromhex(e["script_pubkey"]))
        if e.get("template") == "multisig" and e.get("redeem_script"):
            out.append(bytes.fromhex(e["redeem_script"]))
    for s in params.erp_sets:
        out.append(min(s.keys))
    return out
