"""Bitcoin connector: BTC payments to our addresses, found by scanning blocks, over Core RPC.

Why block scanning and not a watch-only descriptor wallet: one call per block gives every
output, so a block is checked against any number of watched addresses in memory (100,000
addresses cost no more than ten) and the node keeps no state of ours: no wallet to create,
import ranges into, rescan, back up or keep in step with the database's addresses, and a
node can be swapped for another with `-txindex=1`. The price is that reorgs are the
caller's to notice; that is what `BlockRef.parent_hash` and `block_at` are for, and the
watchers keep a (height, hash) cursor anyway.

Why the raw block (`getblock <hash> 0`) and not the verbose one (`… 2`): a busy block is
~1.5 MB of hex against ~6 MB of JSON whose every number python-bitcoinrpc parses into a
Decimal; reading only txids and outputs (block.py) and matching output scripts against
the scripts of the watched addresses is several times faster. A few addresses in hand are
turned into scripts once per address set; the watchers' millions are not converted at all:
their watchlist is asked for the block's scripts (one indexed query per block).

Invariants: a transfer is one output (`index` = vout) paying a watched address, tagged with
the block it was read from, or `block=None` while in the mempool; a mempool transaction that
is replaced (RBF) or double-spent simply stops being listed by `pending` and has 0
`confirmations`; confirmations count only the active chain (a transaction whose block was
orphaned has 0 until mined again, in a block with another hash); outputs are matched by
script, so the watched address comes back as the caller stores it. Amounts are exact:
satoshis from raw blocks, `Decimal` from verbose RPC answers, never a float.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backend.connectors.bitcoin.address import output_script, validate_address
from backend.connectors.bitcoin.block import RawBlock, parse_block
from backend.connectors.bitcoin.rpc import BitcoinRpc
from backend.connectors.chain import (
    BlockRef,
    BroadcastRejected,
    ChainError,
    FeeEstimate,
    InvalidAddress,
    TransactionNotFound,
    Transfer,
    Watched,
    WatchIndex,
    Watchlist,
    resolve,
    scan_in_windows,
)
from backend.settings import BitcoinNetwork, Settings
from contract.money import Asset, Money, Network

NULL_HASH = "0" * 64
# Core's getblockchaininfo "chain" for each network we can be configured for.
CORE_CHAIN = {
    BitcoinNetwork.mainnet: "main",
    BitcoinNetwork.testnet: ("test", "testnet4", "signet"),
    BitcoinNetwork.regtest: "regtest",
}
# A one-input, two-output P2WPKH payment: what a withdrawal usually is.
TYPICAL_VSIZE = 141
SATS_PER_BTC_KVB = Decimal(100_000)  # BTC/kvB → sat/vB
_REORG_RETRIES = 3


@dataclass(frozen=True)
class Utxo:
    """An unspent output of one of our addresses: what a withdrawal or a sweep spends."""

    txid: str
    vout: int
    sats: int
    address: str
    height: int  # of the block that created it

    @property
    def amount(self) -> Money:
        return Money.from_minor_units(self.sats, Asset.BTC)


class BitcoinConnector:
    network = Network.bitcoin

    def __init__(
        self,
        rpc: BitcoinRpc,
        bitcoin_network: BitcoinNetwork = BitcoinNetwork.regtest,
        *,
        fee_target_blocks: int = 6,
        fallback_fee_sat_vb: int = 2,
        scan_window: int = 4,
        mempool_fetch_limit: int = 2_000,
    ) -> None:
        self.rpc = rpc
        self.bitcoin_network = bitcoin_network
        self.fee_target_blocks = fee_target_blocks
        self.fallback_fee_sat_vb = fallback_fee_sat_vb
        self.scan_window = scan_window
        self.mempool_fetch_limit = mempool_fetch_limit
        # txid → its outputs that pay an address: (vout, output script hex, amount). Mempool
        # transactions never change, so each is fetched once while it stays in the pool.
        self._mempool: dict[str, tuple[tuple[int, str, Decimal], ...]] = {}
        # Output script hex → watched address, for addresses passed as a collection.
        self._scripts = WatchIndex(self._output_script)
        # txid → its outputs paying a watchlist's addresses: (vout, address, amount). Asked
        # once per transaction, at the first look after it was fetched: every address it
        # pays was committed (and shown to the payer) before it was sent, so the answer
        # holds while it stays in the pool, and a busy pool is not asked again every tick.
        self._ours: dict[str, tuple[tuple[int, str, Decimal], ...]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> BitcoinConnector:
        rpc = BitcoinRpc(
            settings.bitcoin_rpc_url,
            settings.bitcoin_rpc_user,
            settings.bitcoin_rpc_password.get_secret_value(),
        )
        return cls(rpc, settings.bitcoin_network)

    async def aclose(self) -> None:
        """Nothing to close: every call opened and closed its own connection."""

    async def ready(self) -> str:
        """A readiness probe: the node answers, is on our network and indexes transactions."""
        info = await self.rpc.call("getblockchaininfo")
        expected = CORE_CHAIN[self.bitcoin_network]
        if info["chain"] not in (expected if isinstance(expected, tuple) else (expected,)):
            raise ChainError(
                "The Bitcoin node is on another network.",
                reason=f"node chain {info['chain']!r}, configured {self.bitcoin_network}",
            )
        indexes = await self.rpc.call("getindexinfo", "txindex")
        if "txindex" not in indexes:
            # Without it getrawtransaction cannot find confirmed transactions.
            raise ChainError("The Bitcoin node runs without -txindex=1.")
        return "ok"

    def validate_address(self, address: str) -> str:
        return validate_address(address, self.bitcoin_network)

    # ------------------------------------------------------------------------- blocks

    async def tip(self) -> BlockRef:
        return await self._ref(await self.rpc.call("getbestblockhash"))

    async def block_at(self, height: int) -> BlockRef:
        return await self._ref(await self.rpc.call("getblockhash", height))

    async def _ref(self, block_hash: str) -> BlockRef:
        return _ref(await self.rpc.call("getblockheader", block_hash, True))

    async def scan(self, start_height: int, end_height: int, addresses: Watched) -> list[Transfer]:
        """Outputs paying `addresses` in blocks start..end of the active chain, in order."""

        async def read(height: int) -> list[Transfer]:
            ref, block = await self._block(height)
            scripts = await resolve(addresses, self._scripts, _scripts_of(block))
            return list(self._match(ref, block, scripts))

        return await scan_in_windows(start_height, end_height, self.scan_window, read)

    def _output_script(self, address: str) -> str | None:
        try:
            return output_script(address, self.bitcoin_network).hex()
        except InvalidAddress:
            return None  # not for our network: nothing here can pay it

    async def _block(self, height: int) -> tuple[BlockRef, RawBlock]:
        """The active chain's block at `height`, never one orphaned between our calls (a hash
        names one block's bytes forever, so asking its header whether it is still active
        covers the block read alongside)."""
        for _ in range(_REORG_RETRIES):
            block_hash = await self.rpc.call("getblockhash", height)
            header, raw = await asyncio.gather(
                self.rpc.call("getblockheader", block_hash, True),
                self.rpc.call("getblock", block_hash, 0),
            )
            if header["confirmations"] >= 0:  # -1: reorganised away since getblockhash
                return _ref(header), _parsed(raw, block_hash)
        raise ChainError("The Bitcoin chain kept reorganising.", reason=f"height {height}")

    def _match(
        self, ref: BlockRef, block: RawBlock, scripts: Mapping[str, str]
    ) -> Iterator[Transfer]:
        if not scripts:
            return
        for tx in block.transactions:
            for vout, out in enumerate(tx.outputs):
                address = scripts.get(out.script.hex())
                if address is not None:
                    amount = Money.from_minor_units(out.sats, Asset.BTC)
                    yield self._transfer(tx.txid, vout, address, amount, ref)

    def _transfer(
        self, txid: str, vout: int, address: str, amount: Money, block: BlockRef | None
    ) -> Transfer:
        return Transfer(
            network=self.network,
            txid=txid,
            index=vout,
            to_address=address,
            amount=amount,
            block=block,
        )

    # ------------------------------------------------------------------------- mempool

    async def pending(self, addresses: Watched) -> list[Transfer]:
        """Mempool outputs paying `addresses`. A replaced or evicted transaction drops out."""
        in_pool: list[str] = await self.rpc.call("getrawmempool")
        current = set(in_pool)
        for gone in self._mempool.keys() - current:
            del self._mempool[gone]
        # A first look at a busy mainnet mempool is spread over several calls.
        fresh = [txid for txid in in_pool if txid not in self._mempool]
        fetched = await asyncio.gather(
            *(self._outputs(t) for t in fresh[: self.mempool_fetch_limit])
        )
        for txid, outputs in zip(fresh, fetched, strict=False):
            if outputs is not None:
                self._mempool[txid] = outputs
        if isinstance(addresses, Watchlist):
            return await self._pending_ours(addresses)
        scripts = await resolve(
            addresses,
            self._scripts,
            (script for outputs in self._mempool.values() for _, script, _ in outputs),
        )
        return [
            self._transfer(txid, vout, scripts[script], _btc(value), None)
            for txid, outputs in self._mempool.items()
            for vout, script, value in outputs
            if script in scripts
        ]

    async def _pending_ours(self, watchlist: Watchlist) -> list[Transfer]:
        for gone in self._ours.keys() - self._mempool.keys():
            del self._ours[gone]
        new = [txid for txid in self._mempool if txid not in self._ours]
        keys = {script for txid in new for _, script, _ in self._mempool[txid]}
        found = await watchlist.lookup(keys) if keys else {}
        for txid in new:
            self._ours[txid] = tuple(
                (vout, found[script], value)
                for vout, script, value in self._mempool[txid]
                if script in found
            )
        return [
            self._transfer(txid, vout, address, _btc(value), None)
            for txid, outputs in self._ours.items()
            for vout, address, value in outputs
        ]

    async def _outputs(self, txid: str) -> tuple[tuple[int, str, Decimal], ...] | None:
        try:
            tx = await self.rpc.call("getrawtransaction", txid, 1)
        except TransactionNotFound:
            return None  # mined or replaced since getrawmempool: the next look settles it
        if "blockhash" in tx:
            return None
        return tuple(_paying_outputs(tx["vout"]))

    # ------------------------------------------------------------------------- transactions

    async def confirmations(self, txid: str) -> int:
        try:
            tx = await self.rpc.call("getrawtransaction", txid, 1)
        except TransactionNotFound:
            return 0  # replaced, double-spent or never seen
        # In a block off the active chain Core answers 0; in the mempool there is no key.
        return int(tx.get("confirmations", 0)) if "blockhash" in tx else 0

    async def broadcast(self, signed_tx: str) -> str:
        """Send a signed transaction (hex); sending it again is harmless and returns its id."""
        try:
            txid: str = await self.rpc.call("sendrawtransaction", signed_tx)
            return txid
        except BroadcastRejected as exc:
            reason = str(exc.extra.get("reason", ""))
            already = exc.extra.get("rpc_code") == -27 or "already" in reason
            if not already:
                raise
        decoded = await self.rpc.call("decoderawtransaction", signed_tx)
        known: str = decoded["txid"]
        return known

    async def balance(self, address: str, asset: Asset) -> Money:
        """Confirmed balance of one address, from Core's UTXO set (`scantxoutset`, slow on
        mainnet: seconds to minutes; meant for sweeps and audits, not per request)."""
        if asset is not Asset.BTC:
            raise ValueError(f"Bitcoin addresses hold BTC, not {asset}")
        canonical = self.validate_address(address)
        result = await self.rpc.call("scantxoutset", "start", [f"addr({canonical})"])
        return Money(amount=result["total_amount"], asset=Asset.BTC)

    async def unspent(self, addresses: Collection[str]) -> list[Utxo]:
        """Confirmed coins of `addresses` that no mempool transaction spends yet.

        One `scantxoutset` reads Core's UTXO set for all of them at once (seconds on
        mainnet: for the hot wallet and sweeps, not per request); then `gettxout` with the
        mempool, per coin, drops the coins a pending transaction already spends, because
        spending one again would replace that transaction (full RBF), not add a payment.
        """
        scripts = {
            output_script(a, self.bitcoin_network).hex(): self.validate_address(a)
            for a in addresses
        }
        if not scripts:
            return []
        found = await self.rpc.call(
            "scantxoutset", "start", [f"addr({a})" for a in scripts.values()]
        )
        coins = [
            Utxo(
                txid=item["txid"],
                vout=item["vout"],
                sats=Money(amount=item["amount"], asset=Asset.BTC).minor_units(),
                address=scripts[item["scriptPubKey"]],
                height=item["height"],
            )
            for item in found["unspents"]
            if item["scriptPubKey"] in scripts
        ]
        live = await asyncio.gather(
            *(self.rpc.call("gettxout", c.txid, c.vout, True) for c in coins)
        )
        return [coin for coin, out in zip(coins, live, strict=True) if out is not None]

    async def estimate_fee(self) -> FeeEstimate:
        estimate = await self.rpc.call("estimatesmartfee", self.fee_target_blocks, "economical")
        feerate = estimate.get("feerate")  # absent on a fresh node: "Insufficient data"
        if isinstance(feerate, Decimal) and feerate > 0:
            sat_per_vb = max(1, math.ceil(feerate * SATS_PER_BTC_KVB))
        else:
            sat_per_vb = self.fallback_fee_sat_vb
        return FeeEstimate(
            network=self.network,
            unit_price=sat_per_vb,
            unit="sat/vB",
            typical_cost=Money.from_minor_units(sat_per_vb * TYPICAL_VSIZE, Asset.BTC),
        )


def _ref(header: dict[str, Any]) -> BlockRef:
    return BlockRef(
        height=header["height"],
        hash=header["hash"],
        parent_hash=header.get("previousblockhash", NULL_HASH),
    )


def _parsed(raw_hex: str, block_hash: str) -> RawBlock:
    try:
        block = parse_block(bytes.fromhex(raw_hex))
    except (ValueError, TypeError) as exc:
        raise ChainError(
            "The Bitcoin node sent a block that does not parse.", reason=str(exc)
        ) from None
    if block.hash != block_hash:
        raise ChainError("The Bitcoin node sent another block than asked.", reason=block.hash)
    return block


def _btc(value: object) -> Money:
    """A verbose RPC answer's BTC amount (python-bitcoinrpc reads it as a Decimal)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ChainError("The Bitcoin node sent an amount that is not a decimal.")
    return Money(amount=Decimal(value), asset=Asset.BTC)


def _scripts_of(block: RawBlock) -> Iterator[str]:
    for tx in block.transactions:
        for out in tx.outputs:
            yield out.script.hex()


def _paying_outputs(vouts: Iterable[dict[str, Any]]) -> Iterator[tuple[int, str, Decimal]]:
    for out in vouts:
        script = out["scriptPubKey"]
        if script.get("address") is not None:
            yield out["n"], str(script["hex"]).lower(), out["value"]
