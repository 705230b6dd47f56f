"""The Bitcoin stand-in's node state: active chain, stale blocks, UTXO set, mempool, txindex.

Invariants: the UTXO set holds the outputs the active chain created and did not spend, plus
the sandbox payer's funding coins (minted outside any block so payers need no mining);
every mempool transaction spends coins that are unspent or come from mempool parents, and
no two of them spend one outpoint (a replacement evicts the conflict and its descendants);
blocks orphaned by a reorg stay known by hash (Core answers `confirmations: -1` for them).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import time
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from backend.sandbox.bitcoin_wire import (
    COIN,
    NULL_HASH,
    REGTEST,
    SEQUENCE_FINAL,
    ChainParams,
    Tx,
    TxIn,
    TxOut,
    block_header,
    dsha256,
    hash_hex,
    merkle_root,
    script_number,
    varint,
    witness_commitment_script,
)
from backend.sandbox.control import SimError

Outpoint = tuple[str, int]

REGTEST_BITS = 0x207FFFFF
_REGTEST_TARGET = 0x7FFFFF << (8 * (0x20 - 3))
BLOCK_VERSION = 0x20000000
MIN_RELAY_SAT_VB = 1
# Core's default -maxfeerate for sendrawtransaction, BTC/kvB.
DEFAULT_MAX_FEE_RATE = Decimal("0.10")
DUST = 546
COINBASE_MATURITY = 100


class RpcError(Exception):
    """A JSON-RPC error object: Core's code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Coin:
    value: int
    script: bytes
    height: int
    coinbase: bool = False


@dataclass
class Block:
    height: int
    hash: str
    prev_hash: str
    merkle: bytes
    time: int
    nonce: int
    txs: list[Tx]
    # Spent coins per outpoint (Core's undo data): reverses the block and prices its fees.
    undo: dict[Outpoint, Coin] = field(default_factory=dict)
    fees: dict[str, int] = field(default_factory=dict)
    median_time: int = 0

    @cached_property
    def size(self) -> int:
        return 80 + len(varint(len(self.txs))) + sum(tx.size for tx in self.txs)

    @cached_property
    def stripped_size(self) -> int:
        stripped = sum(len(tx.serialize(witness=False)) for tx in self.txs)
        return 80 + len(varint(len(self.txs))) + stripped

    @cached_property
    def weight(self) -> int:
        return (80 + len(varint(len(self.txs)))) * 4 + sum(tx.weight for tx in self.txs)

    @property
    def version(self) -> int:
        return BLOCK_VERSION if self.height else 1

    @property
    def bits(self) -> int:
        return REGTEST_BITS

    def header(self) -> bytes:
        return block_header(
            self.version, self.prev_hash, self.merkle, self.time, self.bits, self.nonce
        )


@dataclass
class MempoolEntry:
    tx: Tx
    fee: int
    time: int
    height: int

    @property
    def fee_rate(self) -> Decimal:
        return Decimal(self.fee) / self.tx.vsize


def p2wpkh(seed: bytes) -> bytes:
    """A pay-to-witness-pubkey-hash script for a key hash derived from `seed`."""
    return b"\x00\x14" + hashlib.sha256(seed).digest()[:20]


_GENESIS_SCRIPT_SIG = bytes.fromhex(
    "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f"
    "6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73"
)
_GENESIS_PUBKEY_SCRIPT = bytes.fromhex(
    "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f355"
    "04e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac"
)


def _genesis() -> Block:
    coinbase = Tx(
        (TxIn(NULL_HASH, 0xFFFFFFFF, _GENESIS_SCRIPT_SIG),),
        (TxOut(50 * COIN, _GENESIS_PUBKEY_SCRIPT),),
        version=1,
    )
    merkle = bytes.fromhex(coinbase.txid)[::-1]
    header = block_header(1, NULL_HASH, merkle, 1296688602, REGTEST_BITS, 2)
    return Block(0, hash_hex(dsha256(header)), NULL_HASH, merkle, 1296688602, 2, [coinbase])


class Node:
    """One regtest node. Not thread-safe: the stand-in app drives it from one event loop."""

    def __init__(self, chain: ChainParams = REGTEST, fee_rate: int | None = 10) -> None:
        self.chain = chain
        genesis = _genesis()
        genesis.median_time = genesis.time
        self.blocks: list[Block] = [genesis]
        self.by_hash: dict[str, Block] = {genesis.hash: genesis}
        self.utxo: dict[Outpoint, Coin] = {}
        self.mempool: dict[str, MempoolEntry] = {}
        self.spenders: dict[Outpoint, str] = {}
        self.txindex: dict[str, str] = {}
        # What estimatesmartfee answers, sat/vB; None = "Insufficient data or no feerate found".
        self.fee_rate = fee_rate
        self._serial = itertools.count(1)
        self.payer_script = p2wpkh(b"qpeapay sandbox payer")
        self.miner_script = p2wpkh(b"qpeapay sandbox miner")

    # ------------------------------------------------------------------------- chain view

    @property
    def tip(self) -> Block:
        return self.blocks[-1]

    def is_active(self, block: Block) -> bool:
        return block.height < len(self.blocks) and self.blocks[block.height].hash == block.hash

    def confirmations(self, block: Block) -> int:
        return self.tip.height - block.height + 1 if self.is_active(block) else -1

    def next_hash(self, block: Block) -> str | None:
        if self.is_active(block) and block.height + 1 < len(self.blocks):
            return self.blocks[block.height + 1].hash
        return None

    def find_transaction(self, txid: str) -> tuple[Tx, Block | None] | None:
        """Mempool first, then the txindex (the last block that confirmed it, maybe stale)."""
        if txid in self.mempool:
            return self.mempool[txid].tx, None
        block_hash = self.txindex.get(txid)
        if block_hash is None:
            return None
        block = self.by_hash[block_hash]
        return next(tx for tx in block.txs if tx.txid == txid), block

    # ------------------------------------------------------------------------- mempool

    def _coin(self, outpoint: Outpoint) -> Coin | None:
        coin = self.utxo.get(outpoint)
        if coin is not None:
            return coin
        parent = self.mempool.get(outpoint[0])
        if parent is not None and outpoint[1] < len(parent.tx.outputs):
            out = parent.tx.outputs[outpoint[1]]
            return Coin(out.value, out.script, -1)
        return None

    def accept(
        self, tx: Tx, *, max_fee_rate: Decimal = DEFAULT_MAX_FEE_RATE, policy: bool = True
    ) -> str:
        """Core's AcceptToMemoryPool, reduced to the rules a payment system meets.

        Signatures and scripts are not verified; inputs, fees, conflicts and BIP125
        replacement are. `policy=False` re-admits transactions from disconnected blocks.
        """
        if tx.txid in self.mempool:
            return tx.txid  # Core answers the txid again rather than an error
        if tx.is_coinbase:
            raise RpcError(-26, "coinbase")
        if any((tx.txid, n) in self.utxo for n in range(len(tx.outputs))):
            raise RpcError(-27, "Transaction outputs already in utxo set")
        value_in, conflicts = 0, set()
        for txin in tx.inputs:
            coin = self._coin(txin.outpoint)
            if coin is None:
                raise RpcError(-25, "bad-txns-inputs-missingorspent")
            if coin.coinbase and self.tip.height + 1 - coin.height < COINBASE_MATURITY:
                raise RpcError(-26, "bad-txns-premature-spend-of-coinbase")
            value_in += coin.value
            if txin.outpoint in self.spenders:
                conflicts.add(self.spenders[txin.outpoint])
        value_out = sum(out.value for out in tx.outputs)
        if any(out.value < 0 for out in tx.outputs) or value_out > 21_000_000 * COIN:
            raise RpcError(-26, "bad-txns-vout-negative")
        if value_in < value_out:
            raise RpcError(
                -26,
                f"bad-txns-in-belowout, value in ({value_in}) < value out ({value_out})",
            )
        fee = value_in - value_out
        if policy:
            if fee < MIN_RELAY_SAT_VB * tx.vsize:
                raise RpcError(-26, f"min relay fee not met, {fee} < {tx.vsize}")
            rate_btc_kvb = Decimal(fee * 1000) / tx.vsize / COIN
            if max_fee_rate and rate_btc_kvb > max_fee_rate:
                raise RpcError(
                    -25, "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)"
                )
            if conflicts:
                self._check_replacement(tx, fee, conflicts)
        for conflict in conflicts:
            self._evict(conflict)
        self.mempool[tx.txid] = MempoolEntry(tx, fee, int(time.time()), self.tip.height)
        for txin in tx.inputs:
            self.spenders[txin.outpoint] = tx.txid
        return tx.txid

    def _check_replacement(self, tx: Tx, fee: int, conflicts: set[str]) -> None:
        # Full RBF (Core >= 28 default): signalling is not required, paying more is.
        replaced = {d for c in conflicts for d in self.descendants(c)}
        old_fees = sum(self.mempool[t].fee for t in replaced)
        rate = Decimal(fee) / tx.vsize
        for conflict in conflicts:
            if rate <= self.mempool[conflict].fee_rate:
                raise RpcError(
                    -26,
                    f"insufficient fee, rejecting replacement {tx.txid}; new feerate "
                    f"{rate:.8f} <= old feerate {self.mempool[conflict].fee_rate:.8f}",
                )
        if fee < old_fees + MIN_RELAY_SAT_VB * tx.vsize:
            raise RpcError(
                -26,
                f"insufficient fee, rejecting replacement {tx.txid}, not enough additional "
                f"fees to relay; {fee - old_fees} < {MIN_RELAY_SAT_VB * tx.vsize}",
            )

    def descendants(self, txid: str) -> list[str]:
        """`txid` and every mempool transaction spending its outputs, parents first."""
        found, queue = [txid], [txid]
        while queue:
            entry = self.mempool[queue.pop()]
            for n in range(len(entry.tx.outputs)):
                child = self.spenders.get((entry.tx.txid, n))
                if child is not None and child not in found:
                    found.append(child)
                    queue.append(child)
        return found

    def _evict(self, txid: str) -> None:
        for victim in reversed(self.descendants(txid)):
            entry = self.mempool.pop(victim)
            for txin in entry.tx.inputs:
                self.spenders.pop(txin.outpoint, None)

    # ------------------------------------------------------------------------- blocks

    def _subsidy(self, height: int) -> int:
        halvings = height // self.chain.halving_interval
        return 0 if halvings >= 64 else (50 * COIN) >> halvings

    def _connect(self, txs: list[Tx]) -> Block:
        """Append a block holding `txs` (already valid against the UTXO set, parents first)."""
        prev = self.tip
        height = prev.height + 1
        undo: dict[Outpoint, Coin] = {}
        fees: dict[str, int] = {}
        for tx in txs:
            spent = [self.utxo.pop(txin.outpoint) for txin in tx.inputs]
            undo.update(zip((txin.outpoint for txin in tx.inputs), spent, strict=True))
            fees[tx.txid] = sum(c.value for c in spent) - sum(o.value for o in tx.outputs)
            for n, out in enumerate(tx.outputs):
                self.utxo[(tx.txid, n)] = Coin(out.value, out.script, height)
        # The serial makes every coinbase, hence every block hash, unique across forks.
        script_sig = script_number(height) + next(self._serial).to_bytes(8, "little")
        outputs = [TxOut(self._subsidy(height) + sum(fees.values()), self.miner_script)]
        if any(tx.has_witness for tx in txs):
            outputs.append(TxOut(0, witness_commitment_script([tx.wtxid for tx in txs])))
        coinbase = Tx(
            (TxIn(NULL_HASH, 0xFFFFFFFF, script_sig, SEQUENCE_FINAL, (bytes(32),)),),
            tuple(outputs),
        )
        self.utxo[(coinbase.txid, 0)] = Coin(outputs[0].value, outputs[0].script, height, True)
        all_txs = [coinbase, *txs]
        merkle = merkle_root([bytes.fromhex(tx.txid)[::-1] for tx in all_txs])
        block_time = max(int(time.time()), prev.time + 1)
        nonce = 0
        while True:  # regtest proof of work: about two tries
            header = block_header(BLOCK_VERSION, prev.hash, merkle, block_time, REGTEST_BITS, nonce)
            digest = dsha256(header)
            if int.from_bytes(digest, "little") <= _REGTEST_TARGET:
                break
            nonce += 1
        times = sorted([b.time for b in self.blocks[-10:]] + [block_time])
        block = Block(
            height,
            hash_hex(digest),
            prev.hash,
            merkle,
            block_time,
            nonce,
            all_txs,
            undo,
            fees,
            median_time=times[len(times) // 2],
        )
        self.blocks.append(block)
        self.by_hash[block.hash] = block
        for tx in all_txs:
            self.txindex[tx.txid] = block.hash
        return block

    def _disconnect(self) -> Block:
        block = self.blocks.pop()
        for tx in reversed(block.txs):
            for n in range(len(tx.outputs)):
                self.utxo.pop((tx.txid, n), None)
        self.utxo.update(block.undo)
        return block

    def mine(self, count: int) -> list[str]:
        """Mine `count` blocks; the first takes the whole mempool (it is never full here)."""
        hashes = []
        for i in range(count):
            txs = [entry.tx for entry in self.mempool.values()] if i == 0 else []
            self.mempool.clear()
            self.spenders.clear()
            hashes.append(self._connect(txs).hash)
        return hashes

    def reorg(self, depth: int, *, drop: bool = False, mine: int | None = None) -> list[str]:
        """Orphan the last `depth` blocks and build a longer branch of empty blocks.

        Their transactions go back to the mempool, or with `drop` are double-spent: a
        conflicting transaction paying the sandbox payer is confirmed in the new branch,
        so the originals (and anything spending them) become invalid.
        """
        if not 1 <= depth <= self.tip.height:
            raise SimError(f"depth must be between 1 and {self.tip.height}")
        orphaned = [self._disconnect() for _ in range(depth)]
        returned = [tx for block in reversed(orphaned) for tx in block.txs[1:]]
        waiting = [entry.tx for entry in self.mempool.values()]
        self.mempool.clear()
        self.spenders.clear()
        double_spends = [ds for tx in returned if (ds := self._double_spend(tx))] if drop else []
        count = depth + 1 if mine is None else mine
        hashes = [self._connect(double_spends if i == 0 else []).hash for i in range(count)]
        if count == 0:
            waiting = double_spends + waiting
        for tx in waiting if drop else returned + waiting:
            # One whose inputs went with the old branch is dropped, as Core does.
            with contextlib.suppress(RpcError):
                self.accept(tx, policy=False)
        return hashes

    def _double_spend(self, tx: Tx) -> Tx | None:
        inputs = [txin for txin in tx.inputs if txin.outpoint in self.utxo]
        if not inputs:
            return None  # spends only other dropped transactions: falls with them
        value = sum(self.utxo[txin.outpoint].value for txin in inputs)
        spend = Tx(
            tuple(
                TxIn(txin.prev_txid, txin.prev_vout, b"", SEQUENCE_FINAL, _fake_witness())
                for txin in inputs
            ),
            (TxOut(value - 200 * len(inputs), self.payer_script),),
        )
        return spend

    # ------------------------------------------------------------------------- payers

    def pay(self, payments: list[tuple[bytes, int]], *, replaceable: bool = True) -> Tx:
        """A payer's transaction into the mempool: one funding coin in, payments + change out."""
        if not payments or any(value < DUST for _, value in payments):
            raise SimError(f"every output needs at least {DUST} satoshis")
        total = sum(value for _, value in payments)
        funding = (
            hashlib.sha256(next(self._serial).to_bytes(8, "big") + os.urandom(8)).hexdigest(),
            0,
        )
        change = COIN
        sequence = 0xFFFFFFFD if replaceable else SEQUENCE_FINAL
        draft = self._payer_tx([funding], payments, change, sequence)
        fee = draft.vsize * max(self.fee_rate or 10, MIN_RELAY_SAT_VB)
        self.utxo[funding] = Coin(total + fee + change, self.payer_script, 0)
        tx = self._payer_tx([funding], payments, change, sequence)
        self.accept(tx)
        return tx

    def replace(self, txid: str, payments: list[tuple[bytes, int]]) -> Tx:
        """RBF: a payer re-spends `txid`'s inputs to `payments`, paying a higher fee."""
        entry = self.mempool.get(txid)
        if entry is None:
            raise SimError("only a transaction in the mempool can be replaced")
        outpoints = [txin.outpoint for txin in entry.tx.inputs]
        value_in = sum(c.value for op in outpoints if (c := self._coin(op)))
        old_fees = sum(self.mempool[t].fee for t in self.descendants(txid))
        sequence = entry.tx.inputs[0].sequence
        draft = self._payer_tx(outpoints, payments, COIN, sequence)
        fee = old_fees + draft.vsize * max(self.fee_rate or 10, 2 * MIN_RELAY_SAT_VB)
        change = value_in - sum(v for _, v in payments) - fee
        if change < 0:
            raise SimError("the original's inputs cannot pay that much")
        tx = self._payer_tx(outpoints, payments, change if change >= DUST else 0, sequence)
        self.accept(tx)
        return tx

    def _payer_tx(
        self,
        outpoints: list[Outpoint],
        payments: list[tuple[bytes, int]],
        change: int,
        sequence: int,
    ) -> Tx:
        inputs = tuple(TxIn(txid, n, b"", sequence, _fake_witness()) for txid, n in outpoints)
        outputs = [TxOut(value, script) for script, value in payments]
        if change:
            outputs.append(TxOut(change, self.payer_script))
        return Tx(inputs, tuple(outputs))


def _fake_witness() -> tuple[bytes, ...]:
    """A P2WPKH-shaped witness (DER signature + compressed key) so sizes look real."""
    return (b"\x30\x44" + os.urandom(68) + b"\x01", b"\x02" + os.urandom(32))
