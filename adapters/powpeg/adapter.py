"""The Rootstock Powpeg adapter: federation UTXOs, peg-ins, peg-outs, migrations.

Positions are federation UTXOs, all `locked=True` (BTC the federation controls); `status`
says whether the Bridge counts them:
  * `credited`   a peg-in output the Bridge registers;
  * `uncredited` a deposit it does not (data `reason`: below_minimum, retired_federation,
                 malformed_rskt, unsupported_sender, multisig_sender, segwit_before_papyrus);
  * `change`     a peg-out's change back to the spending federation;
  * `migrated`   a migration output to the new federation;
  * `svp`        an SVP fund output to a proposed federation (RSKIP419).
Every position's data: `federation` (address), `federation_verified`, `kind` (pegin,
pegout, migration, svp_fund, svp_spend), `script_pubkey`; peg-ins add `rsk_destination`,
`reason`, `protocol_version`, `sender_type`, `refund_address`.

Events: `pegin` (amount = all federation outputs; data credited, credited_sat, reason,
rsk_destination, ...; a flyover deposit revealed by its spend is a `pegin` with
`flyover: true` and no amount), `pegout` (amount = user outputs; `refund: true` for a
refund), `migration` (amount = everything moved; `phase` migration / svp_fund / svp_spend).
Uncredited peg-ins are also `Rejected` with the reason. State: `federations` (book.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.base import (
    JSON,
    Adapter,
    Event,
    NewPosition,
    Position,
    Rejected,
    ScanView,
    StateUpdate,
)
from adapters.powpeg import book as bookmod
from adapters.powpeg.book import FedBook
from adapters.powpeg.classify import (
    FedInput,
    PeginResult,
    SpendResult,
    classify_pegin,
    classify_spend,
    federation_inputs,
)
from adapters.powpeg.federation import unsigned_tx_hash
from adapters.powpeg.params import PowpegParams, describe, load
from indexer.chain.block import Block, Tx

CREDITED_STATUSES = frozenset({"credited", "change", "migrated", "svp"})


class PowpegAdapter(Adapter):
    name = "powpeg"

    def __init__(self, params: PowpegParams) -> None:
        self.params = params

    @classmethod
    def from_params(cls, chain: str, section: Mapping[str, Any] | None) -> PowpegAdapter:
        return cls(load(chain, section))

    def start_height(self) -> int:
        return self.params.start_height()

    def _book(self, state: Any) -> FedBook:
        return FedBook.from_state(state, self.params)

    def needles(self, state: Mapping[str, Any]) -> Sequence[bytes]:
        # What a tx must hold for `scan` to do anything with it (spends of federation
        # positions reach it through the outline whatever they hold):
        # - a peg-in, change, migration or SVP output: a known federation scriptPubKey;
        # - a spend revealing a federation script: the multisig redeem script, or for an
        #   ERP federation the emergency key (`federation_inputs` decodes only inputs
        #   holding one of these same bytes, its `hints`).
        # A federation learned in a block (migration) adds its scriptPubKey here; a later
        # peg-in to it in the same block is picked up by the syncer's second pass.
        # With no federation and no ERP key set this is `()`: the adapter is idle (see
        # `scan`).
        return bookmod.needles(self._book(state.get(bookmod.STATE_KEY)).entries, self.params)

    # ------------------------------------------------------------------ scan

    def scan(self, block: Block, view: ScanView) -> None:
        book = self._book(view.state(bookmod.STATE_KEY))
        hints = bookmod.needles(book.entries, self.params)
        if not hints:
            # NOTE: no federation and no ERP key set (regtest or signet without params):
            # nothing to recognise. Decoding every input of every block only to trust a
            # flyover script wrapping a federation nobody named would cost a full parse of
            # every block, and the candidate-only scan never hands such a tx over anyway:
            # idle, in both modes alike.
            return
        height = view.height
        for tx in block.txs:
            if tx.is_coinbase:
                continue
            positions = [view.spent_position(txin) for txin in tx.inputs]
            fed_in = federation_inputs(tx, book, positions, hints, height)
            if fed_in:
                self._emit_spend(tx, fed_in, book, view)
            else:
                pegin = classify_pegin(tx, book, height)
                if pegin is not None:
                    self._emit_pegin(tx, pegin, view)
            if book.changed:
                # Emit at once so a later tx of this block sees the learned federation.
                view.emit(StateUpdate(bookmod.STATE_KEY, book.state()))
                book.changed = False

    def _fed_data(self, book: FedBook, address: str) -> JSON:
        fed = book.by_address.get(address)
        return {"federation": address,
                "federation_verified": bool(fed and fed.get("verified"))}

    def _emit_pegin(self, tx: Tx, r: PeginResult, view: ScanView) -> None:
        txid = tx.txid
        common = self._pegin_json(r)
        for vout, fed, live in r.fed_outputs:
            status = "credited" if r.credited and live else "uncredited"
            reason = None if status == "credited" else (r.reason if live else "retired_federation")
            data = {"federation": fed["address"],
                    "federation_verified": bool(fed.get("verified")),
                    "kind": "pegin", "script_pubkey": fed["script_pubkey"],
                    "rsk_destination": r.destination, "reason": reason,
                    "protocol_version": r.protocol_version, "sender_type": r.sender.type,
                    "refund_address": r.refund_address}
            view.emit(NewPosition(tx.index, txid, vout, tx.outputs[vout].value, status,
                                  True, data))
        view.emit(Event(tx.index, txid, "pegin", r.amount_sat, common))
        if not r.credited:
            view.emit(Rejected(tx.index, txid, r.reason or "uncredited", common))

    def _emit_spend(self, tx: Tx, fed_in: list[FedInput], book: FedBook,
                    view: ScanView) -> None:
        txid = tx.txid
        for fi in fed_in:
            if fi.position is not None:
                view.mark_spent(tx.inputs[fi.vin])
        r = classify_spend(tx, fed_in, book, view.height)
        data = self._spend_json(tx, fed_in, r, book)
        for vout, (status, address) in sorted(r.kept.items()):
            pdata = self._fed_data(book, address)
            pdata.update(kind=r.phase,
                         script_pubkey=tx.outputs[vout].script_pubkey.hex())
            view.emit(NewPosition(tx.index, txid, vout, tx.outputs[vout].value, status,
                                  True, pdata))
        view.emit(Event(tx.index, txid, r.kind, r.amount_sat, data))
        # Flyover deposits are invisible until spent (rootstock.md §3.1): the spend is
        # where they surface, as a peg-in whose amount the spending tx cannot show.
        for dep in data["flyover_deposits"]:
            view.emit(Event(tx.index, txid, "pegin", None,
                            {"flyover": True, "credited": True, "revealed_by": txid, **dep}))

    # ------------------------------------------------------------------ json views

    def _pegin_json(self, r: PeginResult) -> JSON:
        return {
            "federation_outputs": [
                {"vout": v, "address": f["address"], "live": live,
                 "federation_verified": bool(f.get("verified"))}
                for v, f, live in r.fed_outputs],
            "credited": r.credited, "credited_sat": r.credited_sat, "reason": r.reason,
            "protocol_version": r.protocol_version,
            "rskt": None if r.rskt is None else {
                "vout": r.rskt.vout, "payload_hex": r.rskt.payload.hex(),
                "rsk_destination": r.rskt.destination,
                "refund_type": r.rskt.refund_type,
                "refund_address": r.rskt.refund_address(self.params.chain)},
            "rskt_error": r.rskt_error,
            "rsk_destination": r.destination, "btc_refund_address": r.refund_address,
            "sender": r.sender.as_json(),
        }

    def _spend_json(self, tx: Tx, fed_in: list[FedInput], r: SpendResult,
                    book: FedBook) -> JSON:
        chain = self.params.chain
        spends = [fi.spend for fi in fed_in if fi.spend is not None]
        inputs = []
        for fi in fed_in:
            sp = fi.spend
            inputs.append({
                "vin": fi.vin,
                "federation_address": fi.fed["address"] if fi.fed else None,
                "spent_address": describe(sp.spent_spk, chain) if sp else None,
                "redeem_location": sp.location if sp else None,
                "template": sp.redeem.template if sp else None,
                "threshold": sp.redeem.threshold if sp else None,
                "signatures": sp.signatures if sp else None,
                "flyover_derivation_hash": (sp.redeem.flyover_hash.hex()
                                            if sp and sp.redeem.flyover_hash else None),
            })
        out: JSON = {
            "phase": r.phase,
            "spending_federations": [s["address"] for s in r.spenders],
            "inputs": inputs,
            "unsigned_tx_hash": unsigned_tx_hash(tx, spends),
        }
        if r.kind == "migration":
            out.update(migration_from=r.spenders[0]["address"] if r.spenders else None,
                       migration_to=(r.to["address"] if r.to else None),
                       new_federation=r.new_federation,
                       to_verified=bool(r.to and r.to.get("verified")))
        out["user_outputs"] = [
            {"vout": i, "address": describe(tx.outputs[i].script_pubkey, chain),
             "value_sat": tx.outputs[i].value} for i in r.user_outputs]
        out["kept_outputs"] = [{"vout": v, "status": s, "address": a}
                               for v, (s, a) in sorted(r.kept.items())]
        out["refund"] = r.phase == "refund"
        out["flyover_deposits"] = [
            {"vin": fi.vin, "deposit_txid": tx.inputs[fi.vin].prev_txid_hex,
             "deposit_vout": tx.inputs[fi.vin].prev_vout,
             "deposit_address": describe(fi.spend.spent_spk, chain),
             "derivation_hash": fi.spend.redeem.flyover_hash.hex(),
             "federation": fi.fed["address"] if fi.fed else None}
            for fi in fed_in
            if fi.spend is not None and fi.spend.redeem.flyover_hash is not None]
        return out

    # ------------------------------------------------------------------ inspect

    def inspect(self, tx: Tx, chain: str) -> list[JSON]:
        params = self.params if chain == self.params.chain else load(chain, None)
        book = FedBook.seeded(params)
        fed_in = federation_inputs(tx, book, [None] * len(tx.inputs))
        if fed_in:
            r = classify_spend(tx, fed_in, book, None)
            data = PowpegAdapter(params)._spend_json(tx, fed_in, r, book)
            return [{"protocol": self.name, "kind": r.kind, "txid": tx.txid,
                     "amount_sat": r.amount_sat, **data}]
        pegin = classify_pegin(tx, book, None)
        if pegin is None:
            return []
        return [{"protocol": self.name, "kind": "pegin", "txid": tx.txid,
                 "amount_sat": pegin.amount_sat, "rules": "current",
                 **PowpegAdapter(params)._pegin_json(pegin)}]

    # ------------------------------------------------------------------ locked

    def locked_detail(self, positions: Sequence[Position]) -> JSON:
        credited = uncredited = 0
        per: dict[str, dict[str, Any]] = {}
        for p in positions:
            addr = str(p.data.get("federation", "?"))
            row = per.setdefault(addr, {"credited_sat": 0, "uncredited_sat": 0,
                                        "positions": 0, "verified": False})
            # Each position records whether its federation was verified when it was
            # created; verification never reverts, so one verified position proves the
            # federation. (Taking the first row's flag depended on the unordered query.)
            row["verified"] = row["verified"] or bool(p.data.get("federation_verified"))
            key = "credited_sat" if p.status in CREDITED_STATUSES else "uncredited_sat"
            row[key] += p.value_sat
            row["positions"] += 1
            if key == "credited_sat":
                credited += p.value_sat
            else:
                uncredited += p.value_sat
        return {"credited_sat": credited, "uncredited_sat": uncredited,
                "federations": [{"address": a, **v} for a, v in sorted(per.items())]}
