"""The harness's own wallet: coins it can sign for, funding, and spends of any prevout.

Coins come from the blocks the harness connects (coinbase rewards, change, payments to
watched scripts) and go away again when a block is disconnected, so the wallet follows
reorgs exactly. `send` funds outputs from the funding script's coins (mature coinbases and
change) with a fixed fee in satoshis; `spend` signs arbitrary prevouts with caller-supplied
signers. Coin selection is deterministic: oldest first, then by outpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from indexer.chain.block import Block
from regtest.build import COINBASE_MATURITY, Transaction, TxInput, TxOutput
from regtest.keys import Key
from regtest.scripts import p2pkh, p2sh, p2sh_p2wpkh, p2wpkh, p2wsh
from regtest.sign import (
    Prevout,
    Signer,
    sign_inputs,
    sign_p2pkh,
    sign_p2sh_multisig,
    sign_p2sh_p2wpkh,
    sign_p2tr_key,
    sign_p2wpkh,
    sign_p2wsh_multisig,
)
from regtest.taproot import TaprootOutput

_logger = logging.getLogger(__name__)

#: Smallest change output worth creating (Core's dust limit for P2WPKH is 294 sat).
DUST_SAT = 546
DEFAULT_FEE_SAT = 1_000
OutPointKey = tuple[str, int]


class InsufficientFunds(RuntimeError):
    """The funding coins cannot pay for the requested outputs and fee."""


@dataclass(frozen=True)
class Coin:
    """An output the wallet can sign for."""

    prevout: Prevout
    height: int | None  # None: created by a transaction not mined yet
    coinbase: bool = False

    @property
    def outpoint(self) -> OutPointKey:
        return self.prevout.outpoint


@dataclass(frozen=True)
class Spend:
    """One input of a transaction to build: the prevout, its signer, its nSequence."""

    prevout: Prevout
    signer: Signer
    sequence: int = 0xFFFFFFFF


@dataclass
class _Undo:
    removed: list[Coin] = field(default_factory=list)
    added: list[OutPointKey] = field(default_factory=list)


class Wallet:
    """Coins and signers of the harness; `funding_script` receives rewards and change."""

    def __init__(self, key: Key | None = None, seed: str = "lockedbtc-harness") -> None:
        self.key = key if key is not None else Key.from_label(seed)
        self.funding_script = p2wpkh(self.key.pubkey)
        self.tip_height = 0
        self._signers: dict[bytes, Signer] = {}
        self._coins: dict[OutPointKey, Coin] = {}
        self._locked: set[OutPointKey] = set()
        self._undo: dict[int, _Undo] = {}
        self.add_key(self.key)

    # --- what the wallet can sign ------------------------------------------------------
    def watch(self, script_pubkey: bytes, signer: Signer) -> None:
        """Track outputs paying to `script_pubkey`, spent with `signer`."""
        self._signers[script_pubkey] = signer

    def add_key(self, key: Key) -> None:
        """Watch every single-key form of `key`: P2PKH, P2WPKH, P2SH-P2WPKH, P2TR key path."""
        self.watch(p2pkh(key.pubkey), sign_p2pkh(key))
        self.watch(p2wpkh(key.pubkey), sign_p2wpkh(key))
        self.watch(p2sh_p2wpkh(key.pubkey), sign_p2sh_p2wpkh(key))
        self.watch(TaprootOutput(key.xonly).script_pubkey, sign_p2tr_key(key))

    def add_multisig(self, script: bytes, keys: Sequence[Key]) -> None:
        """Watch the P2WSH and P2SH forms of a bare multisig script, signed by `keys`."""
        self.watch(p2wsh(script), sign_p2wsh_multisig(keys, script))
        self.watch(p2sh(script), sign_p2sh_multisig(keys, script))

    def signer_for(self, script_pubkey: bytes) -> Signer:
        try:
            return self._signers[script_pubkey]
        except KeyError:
            raise KeyError(f"the wallet cannot sign for {script_pubkey.hex()}") from None

    # --- balances ---------------------------------------------------------------------
    def coins(self, funding_only: bool = False) -> list[Coin]:
        """Coins spendable in the next block, oldest first (unconfirmed change last)."""
        next_height = self.tip_height + 1
        out = []
        for c in self._coins.values():
            if c.outpoint in self._locked:
                continue
            if funding_only and c.prevout.script_pubkey != self.funding_script:
                continue
            if c.coinbase and c.height is not None and next_height - c.height < COINBASE_MATURITY:
                continue
            out.append(c)
        return sorted(out, key=lambda c: (c.height is None, c.height or 0, c.outpoint))

    def balance(self) -> int:
        return sum(c.prevout.value for c in self.coins(funding_only=True))

    # --- building ---------------------------------------------------------------------
    def send(self, outputs: Sequence[TxOutput], fee: int = DEFAULT_FEE_SAT,
             inputs: Sequence[Spend] = (), locktime: int = 0, version: int = 2) -> Transaction:
        """A signed transaction paying `outputs`, funded by the wallet, change last.

        `inputs` are spent first (e.g. a protocol output); funding coins cover the rest.
        """
        needed = sum(o.value for o in outputs) + fee - sum(s.prevout.value for s in inputs)
        spends = list(inputs)
        gathered = 0
        for coin in self.coins(funding_only=True):
            if gathered >= needed:
                break
            spends.append(Spend(coin.prevout, self.signer_for(coin.prevout.script_pubkey)))
            gathered += coin.prevout.value
        if gathered < needed:
            raise InsufficientFunds(f"need {needed} sat more, the wallet has {gathered} "
                                    f"spendable at height {self.tip_height + 1}")
        change = gathered - needed
        outs = list(outputs)
        if change >= DUST_SAT:  # smaller change just adds to the fee
            outs.append(TxOutput(change, self.funding_script))
        return self.spend(spends, outs, locktime=locktime, version=version)

    def spend(self, inputs: Sequence[Spend], outputs: Sequence[TxOutput], locktime: int = 0,
              version: int = 2) -> Transaction:
        """Sign a transaction spending exactly `inputs` into exactly `outputs`.

        The difference is the fee; nothing is added. The result is registered as pending:
        its inputs are not selected again and its outputs to watched scripts are usable.
        """
        tx = Transaction(
            inputs=[TxInput(s.prevout.txid, s.prevout.vout, sequence=s.sequence)
                    for s in inputs],
            outputs=list(outputs), version=version, locktime=locktime)
        fee = sum(s.prevout.value for s in inputs) - sum(o.value for o in outputs)
        if fee < 0:
            raise ValueError(f"outputs exceed inputs by {-fee} sat")
        sign_inputs(tx, [s.prevout.output for s in inputs], [s.signer for s in inputs])
        self.add_pending(tx)
        return tx

    def spend_prevouts(self, prevouts: Sequence[Prevout], outputs: Sequence[TxOutput],
                       fee: int = DEFAULT_FEE_SAT) -> Transaction:
        """Spend watched prevouts into `outputs`; what is left after `fee` comes back as
        change to the funding script (dropped into the fee when below dust)."""
        spends = [Spend(p, self.signer_for(p.script_pubkey)) for p in prevouts]
        rest = sum(p.value for p in prevouts) - sum(o.value for o in outputs) - fee
        if rest < 0:
            raise InsufficientFunds(f"the spent outputs are {-rest} sat short")
        outs = list(outputs)
        if rest >= DUST_SAT:
            outs.append(TxOutput(rest, self.funding_script))
        return self.spend(spends, outs)

    # --- following the chain ------------------------------------------------------------
    def add_pending(self, tx: Transaction) -> None:
        """Lock the inputs of a not-yet-mined tx; make its watched outputs usable."""
        txid = tx.txid()
        for txin in tx.inputs:
            self._locked.add((txin.prev_txid, txin.prev_vout))
        for n, out in enumerate(tx.outputs):
            if out.script_pubkey in self._signers:
                self._coins[(txid, n)] = Coin(Prevout(txid, n, out.value, out.script_pubkey),
                                              None)

    def drop_pending(self) -> None:
        """Forget transactions that were built but will not be mined (e.g. after a reorg)."""
        self._locked.clear()
        for op in [op for op, c in self._coins.items() if c.height is None]:
            del self._coins[op]

    def connect_block(self, height: int, block: Block) -> None:
        undo = _Undo()
        for tx in block.txs:
            txid = tx.txid
            if not tx.is_coinbase:
                for txin in tx.inputs:
                    op = (txin.prev_txid_hex, txin.prev_vout)
                    self._locked.discard(op)
                    coin = self._coins.pop(op, None)
                    if coin is not None:
                        undo.removed.append(coin)
            for n, out in enumerate(tx.outputs):
                if out.script_pubkey in self._signers:
                    prevout = Prevout(txid, n, out.value, out.script_pubkey)
                    self._coins[(txid, n)] = Coin(prevout, height, tx.is_coinbase)
                    undo.added.append((txid, n))
        self._undo[height] = undo
        self.tip_height = height

    def disconnect_block(self, height: int) -> None:
        if height != self.tip_height:
            raise ValueError(f"disconnect {height} but the wallet's tip is {self.tip_height}")
        undo = self._undo.pop(height, _Undo())
        for op in undo.added:
            self._coins.pop(op, None)
        for coin in undo.removed:
            self._coins[coin.outpoint] = coin
        self.tip_height = height - 1
