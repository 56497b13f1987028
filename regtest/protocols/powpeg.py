"""Rootstock Powpeg transactions for scenarios: peg-ins, peg-outs, migrations.

Shapes follow shared/specs/rootstock.md (§1.1, §2.2, §2.3); the federation scripts come from
`adapters.powpeg.federation` so they are exactly the ones the adapter recognises.

A federation is named in `args` by an object
`{"label": "fed-a", "size": 5, "template": "erp" | "multisig"}`: its keys are
`ctx.key("powpeg/<label>/<i>")` for i < size, sorted by the script builder, threshold
size/2 + 1. ERP federations take the emergency keys and CSV from the scenario's params
(`params["powpeg"]["erp_keys"]`, `["erp_csv"]`), which is also what the indexer reads.

Builders (all amounts in sat; `fee` defaults to 1,000 for peg-ins, 2,000 for federation
spends):
* `pegin`: spends the sender's coins (`outputs` of a `spend` step, or `from`; input 0 is
  the sender: P2PKH, P2SH-P2WPKH or P2WPKH) into federation outputs (`amount` or
  `amounts`), an optional RSKT OP_RETURN (`rskt`), and change back to the sender's script.
  Optional `sender` (`"p2pkh"` | `"p2sh-p2wpkh"` | `"p2wpkh"`) asserts input 0's type.
* `pegout`: spends federation UTXOs (`outputs`/`inputs`) into P2PKH user outputs (`to`:
  `[{"key": label, "value": sat}]`, request order), then change to the same federation.
* `migrate`: spends federation UTXOs of `federation` into one output to `to` (a federation
  spec) worth everything minus the fee.
Federation inputs are legacy P2SH spends signed by the first `threshold` keys (or by the
key indices in `signers`): `OP_0 <sig>*m [OP_0 selector for ERP] <redeem>`, each signature
over the legacy sighash with the redeem script as scriptCode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKey
from Crypto.Hash import keccak

from adapters.powpeg.addresses import address_of
from adapters.powpeg.federation import erp_script, multisig_script, p2sh_spk
from regtest.build import Transaction, TxOutput, push_data
from regtest.keys import Key, hash160
from regtest.protocols import BuiltTx, ProtocolContext, TxBuilder
from regtest.scripts import op_return, p2pkh, p2wpkh
from regtest.sign import Prevout, SignContext, Signer, Solution
from regtest.wallet import DUST_SAT, Spend

PEGIN_FEE_SAT = 1_000
FED_FEE_SAT = 2_000
#: Peg-out and migration transactions are version 2 since Iris / Arrowhead (spec §2.3).
FED_TX_VERSION = 2
RSKT_PREFIX = b"RSKT\x01"


class PowpegBuildError(ValueError):
    """Builder arguments that do not describe a valid Powpeg transaction."""


@dataclass(frozen=True)
class Federation:
    """A regtest federation: its members' keys (label order) and its redeem script."""

    keys: tuple[Key, ...]
    template: str
    redeem: bytes

    @property
    def threshold(self) -> int:
        return len(self.keys) // 2 + 1

    @property
    def script_pubkey(self) -> bytes:
        return p2sh_spk(self.redeem)

    @property
    def address(self) -> str:
        return address_of(self.script_pubkey, "regtest") or self.script_pubkey.hex()

    def signing_keys(self, indices: Sequence[int] | None = None) -> list[Key]:
        """The signers, in the order the script lists their keys (CHECKMULTISIG walks
        keys forward only, so signatures must follow the sorted key order)."""
        chosen = ([self.keys[i] for i in indices] if indices is not None
                  else sorted(self.keys, key=lambda k: k.pubkey)[:self.threshold])
        if len(chosen) != self.threshold or len({k.pubkey for k in chosen}) != len(chosen):
            raise PowpegBuildError(f"need {self.threshold} distinct signers, got {len(chosen)}")
        return sorted(chosen, key=lambda k: k.pubkey)


def federation_keys(label: str, size: int) -> tuple[Key, ...]:
    return tuple(Key.from_label(f"powpeg/{label}/{i}") for i in range(size))


def erp_settings(params: Mapping[str, Any]) -> tuple[list[bytes], int]:
    """The emergency keys and CSV delay the scenario gives the indexer."""
    section = params.get("powpeg", {})
    try:
        return [bytes.fromhex(k) for k in section["erp_keys"]], int(section["erp_csv"])
    except KeyError:
        raise PowpegBuildError("an ERP federation needs params.powpeg.erp_keys and "
                               "erp_csv") from None


def federation(ctx: ProtocolContext, spec: Any) -> Federation:
    """The federation a `{"label", "size", "template"}` object names."""
    if not isinstance(spec, Mapping) or "label" not in spec:
        raise PowpegBuildError(f"a federation is {{label, size, template}}, got {spec!r}")
    keys = federation_keys(str(spec["label"]), int(spec.get("size", 5)))
    template = str(spec.get("template", "erp"))
    pubkeys = [k.pubkey for k in keys]
    if template == "erp":
        erp_keys, csv = erp_settings(ctx.params)
        redeem = erp_script(pubkeys, erp_keys, csv)
    elif template == "multisig":
        redeem = multisig_script(pubkeys)
    else:
        raise PowpegBuildError(f"unknown federation template {template!r}")
    fed = Federation(keys, template, redeem)
    _check_listed(ctx, fed)
    return fed


def _check_listed(ctx: ProtocolContext, fed: Federation) -> None:
    """A federation listed in params with a redeem script must be this one (catches a
    scenario whose params drifted from its builder arguments)."""
    for entry in ctx.params.get("powpeg", {}).get("federations", []):
        if (entry.get("address") == fed.address and "redeem_script" in entry
                and bytes.fromhex(entry["redeem_script"]) != fed.redeem):
            raise PowpegBuildError(f"params list {fed.address} with another script")


def sign_federation(fed: Federation, signers: Sequence[Key]) -> Signer:
    """A legacy P2SH federation input: `OP_0 <sig>*m [OP_0] <redeem>` (spec §1.1).

    The leading OP_0 is CHECKMULTISIG's dummy (NULLDUMMY); for ERP scripts the OP_0 just
    below the redeem script makes OP_NOTIF take the federation (default) branch.
    """
    def signer(ctx: SignContext) -> Solution:
        sigs = [ctx.ecdsa_legacy(k, fed.redeem) for k in signers]
        selector = b"\x00" if fed.template == "erp" else b""
        body = b"\x00" + b"".join(push_data(s) for s in sigs) + selector
        return Solution(script_sig=body + push_data(fed.redeem))
    return signer


def rsk_address(pubkey: bytes) -> str:
    """Rootstock address of a key: keccak256 of the uncompressed key, last 20 bytes."""
    raw = PublicKey(pubkey).format(compressed=False)[1:]
    return "0x" + keccak.new(digest_bits=256, data=raw).digest()[-20:].hex()


def rskt_payload(spec: Mapping[str, Any]) -> tuple[bytes, str | None]:
    """The RSKT v1 payload of `{"destination": "0x..." | "destination_key": label,
    "refund": {"type": "p2pkh" | "p2sh-p2wpkh", "key": label}}`, or `payload_hex` as is
    (for malformed ones). Returns the payload and the destination it names."""
    if "payload_hex" in spec:
        return bytes.fromhex(str(spec["payload_hex"])), None
    if "destination_key" in spec:
        dest = rsk_address(Key.from_label(str(spec["destination_key"])).pubkey)
    else:
        dest = str(spec["destination"]).lower()
    raw = bytes.fromhex(dest.removeprefix("0x"))
    if len(raw) != 20:
        raise PowpegBuildError(f"an RSK destination is 20 bytes, got {dest!r}")
    payload = RSKT_PREFIX + raw
    refund = spec.get("refund")
    if refund is not None:
        pub = Key.from_label(str(refund["key"])).pubkey
        kind = str(refund.get("type", "p2pkh"))
        if kind == "p2pkh":
            payload += b"\x01" + hash160(pub)
        elif kind == "p2sh-p2wpkh":
            payload += b"\x02" + hash160(p2wpkh(pub))
        else:
            raise PowpegBuildError(f"unknown RSKT refund type {kind!r}")
    return payload, dest


def _sender_type(spk: bytes) -> str:
    if len(spk) == 25 and spk[:3] == b"\x76\xa9\x14":
        return "p2pkh"
    if len(spk) == 22 and spk[:2] == b"\x00\x14":
        return "p2wpkh"
    if len(spk) == 23 and spk[:2] == b"\xa9\x14":
        return "p2sh-p2wpkh"  # the only P2SH form the wallet pays senders
    return "other"


def _refs(args: Mapping[str, Any], *names: str) -> list[str]:
    for name in names:
        if name in args:
            value = args[name]
            return [str(v) for v in (value if isinstance(value, list) else [value])]
    raise PowpegBuildError(f"name the outputs to spend ({' or '.join(names)})")


def pegin(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Sender coins -> federation output(s) [+ RSKT OP_RETURN] + change to the sender."""
    fed = federation(ctx, args["federation"])
    coins = [ctx.output(r) for r in _refs(args, "outputs", "from")]
    kind = _sender_type(coins[0].script_pubkey)
    if "sender" in args and args["sender"] != kind:
        raise PowpegBuildError(f"input 0 is a {kind} coin, not {args['sender']}")
    amounts = [int(a) for a in args.get("amounts", [args.get("amount", 0)])]
    outs = [TxOutput(a, fed.script_pubkey) for a in amounts]
    names = {f"fed{i}": i for i in range(len(outs))} | {"federation": 0}
    destination: str | None = None
    if "rskt" in args:
        payload, destination = rskt_payload(args["rskt"])
        names["rskt"] = len(outs)
        outs.append(TxOutput(0, op_return(payload)))
    fee = int(args.get("fee", PEGIN_FEE_SAT))
    change = sum(c.value for c in coins) - sum(o.value for o in outs) - fee
    if change < 0:
        raise PowpegBuildError(f"the sender's coins are {-change} sat short")
    if change >= DUST_SAT:
        names["change"] = len(outs)
        outs.append(TxOutput(change, coins[0].script_pubkey))
    spends = [Spend(c, ctx.wallet.signer_for(c.script_pubkey)) for c in coins]
    tx = ctx.wallet.spend(spends, outs)
    return BuiltTx(tx, names, {"federation": fed.address, "amounts": amounts,
                               "sender_type": kind, "rskt_destination": destination})


def _federation_inputs(ctx: ProtocolContext, fed: Federation, args: Mapping[str, Any]
                       ) -> list[Prevout]:
    prevouts = [ctx.output(r) for r in _refs(args, "outputs", "inputs")]
    for p in prevouts:
        if p.script_pubkey != fed.script_pubkey:
            raise PowpegBuildError(f"{p.txid}:{p.vout} does not pay {fed.address}")
    return prevouts


def _spend_federation(ctx: ProtocolContext, fed: Federation, prevouts: Sequence[Prevout],
                      outs: list[TxOutput], args: Mapping[str, Any]) -> Transaction:
    indices = args.get("signers")
    signers = fed.signing_keys([int(i) for i in indices] if indices is not None else None)
    spends = [Spend(p, sign_federation(fed, signers)) for p in prevouts]
    return ctx.wallet.spend(spends, outs, version=FED_TX_VERSION)


def pegout(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Federation UTXOs -> P2PKH user outputs (request order) + change to the federation."""
    fed = federation(ctx, args["federation"])
    prevouts = _federation_inputs(ctx, fed, args)
    outs = [TxOutput(int(u["value"]), p2pkh(Key.from_label(str(u["key"])).pubkey))
            for u in args["to"]]
    names = {f"user{i}": i for i in range(len(outs))}
    fee = int(args.get("fee", FED_FEE_SAT))
    change = sum(p.value for p in prevouts) - sum(o.value for o in outs) - fee
    if change < 0:
        raise PowpegBuildError(f"the federation inputs are {-change} sat short")
    if change >= DUST_SAT:
        names["change"] = len(outs)
        outs.append(TxOutput(change, fed.script_pubkey))
    tx = _spend_federation(ctx, fed, prevouts, outs, args)
    kept = change if change >= DUST_SAT else 0  # smaller change goes to the fee
    return BuiltTx(tx, names, {"federation": fed.address, "change_sat": kept})


def migrate(ctx: ProtocolContext, args: dict[str, Any]) -> BuiltTx:
    """Retiring federation UTXOs -> one output to the new federation (fee deducted)."""
    old = federation(ctx, args["federation"])
    new = federation(ctx, args["to"])
    prevouts = _federation_inputs(ctx, old, args)
    value = sum(p.value for p in prevouts) - int(args.get("fee", FED_FEE_SAT))
    if value < DUST_SAT:
        raise PowpegBuildError("nothing left to migrate after the fee")
    tx = _spend_federation(ctx, old, prevouts, [TxOutput(value, new.script_pubkey)], args)
    return BuiltTx(tx, {"migrated": 0}, {"from": old.address, "to": new.address,
                                         "to_redeem_script": new.redeem.hex(),
                                         "migrated_sat": value})


BUILDERS: dict[str, TxBuilder] = {"pegin": pegin, "pegout": pegout, "migrate": migrate}
