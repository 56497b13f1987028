"""Classify one transaction against the federation book: peg-in, peg-out, migration.

Pure given the book, the positions the inputs spend (scan) and the height (None for
`inspect`: current rules, every known federation counted as live). Rules, rootstock.md §2:

* A tx that spends a federation UTXO is never a peg-in. It is a
  - refund when it spends only uncredited peg-in outputs;
  - SVP spend when it spends only SVP outputs (RSKIP419);
  - migration when every non-OP_RETURN output pays one script-hash address that is not a
    spending federation (the address is learned when unknown, §1.4);
  - SVP fund when it pays exactly two 800,000-sat outputs to other script-hash addresses
    and everything else back to the spender;
  - peg-out otherwise: outputs back to the spender are change, the rest are user outputs.
* Otherwise it is a peg-in when an output pays a known federation. Credit needs a live
  (active or retiring) federation, the era's minimum, a valid RSKT or a supported sender.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Position
from adapters.powpeg.addresses import is_p2sh
from adapters.powpeg.book import FedBook
from adapters.powpeg.decode import Rskt, RsktError, Sender, find_rskt, sender
from adapters.powpeg.federation import FedSpend, read_spend
from adapters.powpeg.params import MIN_BEFORE_IRIS, SVP_OUTPUT_SAT, describe
from indexer.chain.block import Tx

# Uncredited reasons (position data `reason`, Rejected.reason).
BELOW_MINIMUM = "below_minimum"
RETIRED = "retired_federation"
MALFORMED_RSKT = "malformed_rskt"
UNSUPPORTED_SENDER = "unsupported_sender"
MULTISIG_SENDER = "multisig_sender"
SEGWIT_BEFORE_PAPYRUS = "segwit_before_papyrus"


@dataclass
class FedInput:
    vin: int
    spend: FedSpend | None
    fed: dict[str, Any] | None
    position: Position | None


def _maybe_spend(tx: Tx, vin: int, hints: Sequence[bytes]) -> FedSpend | None:
    """read_spend, only for inputs that can hold a federation script (keeps scans cheap)."""
    sig = tx.inputs[vin].script_sig
    if len(sig) == 35 and sig[:3] == b"\x22\x00\x20":
        if not tx.has_witness or not tx.witness(vin):
            return None
        blob = tx.witness(vin)[-1]
    else:
        blob = sig
    if len(blob) < 70 or (hints and not any(h in blob for h in hints)):
        return None
    return read_spend(tx, vin)


def federation_inputs(tx: Tx, book: FedBook, positions: Sequence[Position | None],
                      hints: Sequence[bytes] = (), height: int | None = None
                      ) -> list[FedInput]:
    """Inputs that spend federation money: tracked positions or revealed federation scripts.

    `hints` (byte strings one of which any federation spend carries) skip decoding the
    scriptSig of ordinary inputs; empty means decode every input.
    """
    # An input spending a tracked position is always decoded: its script may verify a
    # learned federation whose keys no hint knows yet.
    spends = [_maybe_spend(tx, i, () if i < len(positions) and positions[i] else hints)
              for i in range(len(tx.inputs))]
    # Proven-by-script federations first, so sibling inputs of the same federation that
    # carry no proof of their own (05d0ce41: plain inputs beside flyover ones) match too.
    for sp in spends:
        if sp is not None and book.get(sp.federation_spk) is None and book.proves_federation(sp):
            book.add(sp.federation_spk, source="script", height=height, txid=tx.txid,
                     redeem=sp.redeem)
    out: list[FedInput] = []
    for i, sp in enumerate(spends):
        pos = positions[i] if i < len(positions) else None
        fed = None
        if sp is not None:
            fed = book.get(sp.federation_spk)
            if fed is not None:
                book.verify_with(fed, sp)
        if fed is None and pos is not None:
            fed = book.by_address.get(pos.data.get("federation", ""))
        if fed is not None or pos is not None:
            out.append(FedInput(i, sp, fed, pos))
    return out


@dataclass
class SpendResult:
    kind: str  # "pegout" | "migration" (the event kind)
    phase: str  # "pegout" | "refund" | "migration" | "svp_fund" | "svp_spend"
    amount_sat: int
    spenders: list[dict[str, Any]]
    to: dict[str, Any] | None = None
    new_federation: bool = False
    #: vout -> (position status, federation address) for outputs the Bridge keeps
    kept: dict[int, tuple[str, str]] = field(default_factory=dict)
    user_outputs: list[int] = field(default_factory=list)


def classify_spend(tx: Tx, inputs: Sequence[FedInput], book: FedBook,
                   height: int | None) -> SpendResult:
    chain = book.params.chain
    spenders: list[dict[str, Any]] = []
    for fi in inputs:
        if fi.fed is not None and all(fi.fed is not s for s in spenders):
            spenders.append(fi.fed)
    spender_spks = {bytes.fromhex(s["script_pubkey"]) for s in spenders}
    svp_spks = {bytes.fromhex(fi.position.data["script_pubkey"]) for fi in inputs
                if fi.position is not None and fi.position.status == "svp"}
    own = spender_spks | svp_spks
    outs = [(i, o) for i, o in enumerate(tx.outputs) if o.script_pubkey[:1] != b"\x6a"]
    statuses = [fi.position.status for fi in inputs if fi.position is not None]
    total = sum(o.value for _, o in outs)

    if statuses and len(statuses) == len(inputs) and all(s == "uncredited" for s in statuses):
        return SpendResult("pegout", "refund", total, spenders,
                           user_outputs=[i for i, _ in outs])
    targets = {o.script_pubkey for _, o in outs}
    if len(targets) == 1:
        (spk,) = targets
        if is_p2sh(spk) and spk not in own:
            if statuses and all(s == "svp" for s in statuses):
                to = book.get(spk)
                addr = to["address"] if to else describe(spk, chain)
                return SpendResult("migration", "svp_spend", total, spenders, to,
                                   kept={i: ("change", addr) for i, _ in outs})
            to = book.get(spk)
            new = to is None
            if to is None:
                to = book.add(spk, source="migration", height=height, txid=tx.txid)
            if height is not None:
                book.note_migration(spenders, to, height)
            return SpendResult("migration", "migration", total, spenders, to, new,
                               kept={i: ("migrated", to["address"]) for i, _ in outs})
    svp = [i for i, o in outs if o.value == SVP_OUTPUT_SAT and is_p2sh(o.script_pubkey)
           and o.script_pubkey not in own and book.get(o.script_pubkey) is None]
    if len(svp) == 2 and all(i in svp or o.script_pubkey in spender_spks for i, o in outs):
        kept = {i: ("svp" if i in svp else "change", describe(o.script_pubkey, chain))
                for i, o in outs}
        return SpendResult("migration", "svp_fund", 2 * SVP_OUTPUT_SAT, spenders, kept=kept)
    kept = {}
    users: list[int] = []
    for i, o in outs:
        fed = book.get(o.script_pubkey)
        if o.script_pubkey in own:
            kept[i] = ("change", describe(o.script_pubkey, chain))
        elif fed is not None:
            kept[i] = ("migrated", fed["address"])
        else:
            users.append(i)
    return SpendResult("pegout", "pegout", sum(tx.outputs[i].value for i in users), spenders,
                       kept=kept, user_outputs=users)


@dataclass
class PeginResult:
    fed_outputs: list[tuple[int, dict[str, Any], bool]]  # (vout, federation, live)
    amount_sat: int  # all federation outputs
    credited: bool
    reason: str | None
    protocol_version: int
    rskt: Rskt | None
    rskt_error: str | None
    sender: Sender
    destination: str | None
    refund_address: str | None
    credited_sat: int  # live federation outputs when credited, else 0


def classify_pegin(tx: Tx, book: FedBook, height: int | None) -> PeginResult | None:
    params = book.params
    eras = params.eras
    chain = params.chain
    fed_outs = []
    for i, o in enumerate(tx.outputs):
        fed = book.get(o.script_pubkey)
        if fed is not None:
            fed_outs.append((i, fed, book.is_live(fed, height)))
    if not fed_outs:
        return None
    h = height if height is not None else max(eras.rskip379, eras.hop, eras.iris) + 1
    live_values = tuple(tx.outputs[i].value for i, _, live in fed_outs if live)
    amount = sum(tx.outputs[i].value for i, _, _ in fed_outs)
    who = sender(tx, chain)
    rskt: Rskt | None = None
    rskt_error: str | None = None
    if h >= eras.iris:
        try:
            rskt = find_rskt(tx)
        except RsktError as e:
            rskt_error = str(e)
    version = 1 if rskt is not None or rskt_error is not None else 0
    destination: str | None = None
    refund: str | None = who.btc_address
    reason: str | None = None
    if rskt is not None:
        destination = rskt.destination
        refund = rskt.refund_address(chain) or who.btc_address
    elif rskt_error is None and who.type in ("P2PKH", "P2SH-P2WPKH"):
        destination = who.rsk_address

    if not live_values:
        reason = RETIRED
    elif params.min_override is not None or h >= eras.hop:
        if min(live_values) < params.min_pegin_sat:
            reason = BELOW_MINIMUM
    elif sum(live_values) < (params.min_pegin_sat if h >= eras.iris else MIN_BEFORE_IRIS):
        reason = BELOW_MINIMUM
    if reason is None:
        if tx.has_witness and h < eras.papyrus:
            reason = SEGWIT_BEFORE_PAPYRUS
        elif rskt_error is not None:
            reason = MALFORMED_RSKT
        elif rskt is None:
            if who.type in ("P2SH-MULTISIG", "P2SH-P2WSH"):
                reason = MULTISIG_SENDER
            elif who.type == "UNKNOWN":
                reason = UNSUPPORTED_SENDER
            elif who.type == "P2SH-P2WPKH" and h < eras.papyrus:
                reason = SEGWIT_BEFORE_PAPYRUS
    credited = reason is None
    return PeginResult(fed_outs, amount, credited, reason, version, rskt, rskt_error, who,
                       destination, refund, sum(live_values) if credited else 0)
