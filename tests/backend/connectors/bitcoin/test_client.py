"""The Bitcoin connector against the Core stand-in: payments from mempool to blocks, splits,
RBF, reorgs, double spends, broadcasts, fees, balances and a node that goes away."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from typing import Any

import pytest

from backend.connectors.bitcoin import BitcoinConnector, BitcoinRpc
from backend.connectors.chain import (
    BlockNotFound,
    BroadcastRejected,
    ChainError,
    NodeUnavailable,
    Transfer,
)
from backend.sandbox.bitcoin_wire import REGTEST, Tx, TxIn, TxOut, script_for_address
from backend.settings import BitcoinNetwork
from contract.money import Asset, Money, Network
from tests.backend.connectors.bitcoin.conftest import Bitcoind, connector_for, new_address


def btc(amount: str) -> Money:
    return Money.of(amount, Asset.BTC)


async def only(transfers: list[Transfer]) -> Transfer:
    assert len(transfers) == 1, transfers
    return transfers[0]


async def test_payment_is_pending_in_the_mempool_then_confirmed(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    address = new_address()
    txid = bitcoind.pay(address, "0.0015")

    seen = await only(await bitcoin.pending({address}))
    assert (seen.txid, seen.index, seen.to_address, seen.block) == (txid, 0, address, None)
    assert seen.amount == btc("0.0015") and seen.network is Network.bitcoin
    assert await bitcoin.confirmations(txid) == 0

    block_hash = bitcoind.mine(1)[0]
    tip = await bitcoin.tip()
    assert tip.hash == block_hash
    assert await bitcoin.pending({address}) == []
    found = await only(await bitcoin.scan(tip.height, tip.height, {address}))
    assert (found.txid, found.index, found.amount) == (txid, 0, btc("0.0015"))
    assert found.block == tip
    assert await bitcoin.confirmations(txid) == 1

    bitcoind.mine(1)
    assert await bitcoin.confirmations(txid) == 2


async def test_a_payment_split_over_two_transactions_is_two_transfers(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    address = new_address()
    first = bitcoind.pay(address, "0.001")
    bitcoind.mine(1)
    second = bitcoind.pay(address, "0.0005")
    bitcoind.mine(1)
    tip = await bitcoin.tip()

    transfers = await bitcoin.scan(tip.height - 1, tip.height, [address])

    assert [(t.txid, t.block and t.block.height) for t in transfers] == [
        (first, tip.height - 1),
        (second, tip.height),
    ]
    assert transfers[0].amount + transfers[1].amount == btc("0.0015")


async def test_one_transaction_paying_two_watched_addresses_is_two_transfers(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    a, b, stranger = new_address(), new_address(), new_address()
    txid = bitcoind.pay_many([(a, "0.01"), (stranger, "0.5"), (b, "0.02")])
    bitcoind.mine(1)
    tip = await bitcoin.tip()

    transfers = await bitcoin.scan(tip.height, tip.height, {a, b})

    assert {(t.txid, t.index, t.to_address, t.amount) for t in transfers} == {
        (txid, 0, a, btc("0.01")),
        (txid, 2, b, btc("0.02")),
    }


async def test_an_rbf_replacement_makes_the_original_disappear(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    ours, elsewhere = new_address(), new_address()
    original = bitcoind.pay(ours, "0.02")
    assert [t.txid for t in await bitcoin.pending({ours})] == [original]

    replacement = bitcoind.replace(original, elsewhere, "0.02")

    assert await bitcoin.pending({ours}) == []
    assert [t.txid for t in await bitcoin.pending({elsewhere})] == [replacement]
    assert await bitcoin.confirmations(original) == 0
    bitcoind.mine(1)
    tip = await bitcoin.tip()
    assert await bitcoin.scan(tip.height, tip.height, {ours}) == []
    assert await bitcoin.confirmations(original) == 0
    assert await bitcoin.confirmations(replacement) == 1


async def test_a_replacement_paying_us_less_shows_the_new_amount(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    ours = new_address()
    original = bitcoind.pay(ours, "0.02")
    replacement = bitcoind.replace(original, ours, "0.015")

    pending = await only(await bitcoin.pending({ours}))

    assert (pending.txid, pending.amount) == (replacement, btc("0.015"))


async def test_a_reorg_takes_the_payment_out_of_its_block(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    address = new_address()
    txid = bitcoind.pay(address, "0.003")
    bitcoind.mine(1)
    tip = await bitcoin.tip()
    found = await only(await bitcoin.scan(tip.height, tip.height, {address}))
    assert found.block == tip

    bitcoind.reorg(1)

    assert (await bitcoin.block_at(tip.height)).hash != tip.hash
    new_tip = await bitcoin.tip()
    assert new_tip.height == tip.height + 1
    assert await bitcoin.scan(tip.height, new_tip.height, {address}) == []
    assert await bitcoin.confirmations(txid) == 0
    assert [t.txid for t in await bitcoin.pending({address})] == [txid]

    bitcoind.mine(1)
    again = await only(await bitcoin.scan(tip.height, new_tip.height + 1, {address}))
    assert again.txid == txid and again.block is not None
    assert again.block.height == new_tip.height + 1 and again.block.hash != tip.hash
    assert await bitcoin.confirmations(txid) == 1


async def test_a_double_spend_in_the_new_branch_makes_the_payment_vanish(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    address = new_address()
    txid = bitcoind.pay(address, "0.004")
    bitcoind.mine(2)
    tip = await bitcoin.tip()

    bitcoind.reorg(2, drop=True)

    new_tip = await bitcoin.tip()
    assert await bitcoin.scan(tip.height - 1, new_tip.height, {address}) == []
    assert await bitcoin.pending({address}) == []
    assert await bitcoin.confirmations(txid) == 0
    bitcoind.mine(6)
    assert await bitcoin.confirmations(txid) == 0


async def test_block_hashes_chain_through_parent_hashes(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    bitcoind.mine(3)
    refs = [await bitcoin.block_at(h) for h in range(4)]

    assert refs[0].hash == "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    assert refs[0].parent_hash == "0" * 64
    assert all(refs[h].parent_hash == refs[h - 1].hash for h in range(1, 4))
    with pytest.raises(BlockNotFound):
        await bitcoin.block_at(4)


def _spend(txid: str, vout: int, value_sats: int, to: str, fee_sats: int) -> str:
    """A transaction spending one output (the stand-in does not check signatures)."""
    tx = Tx(
        (TxIn(txid, vout, b"", 0xFFFFFFFD, (b"\x30" * 72, b"\x02" * 33)),),
        (TxOut(value_sats - fee_sats, script_for_address(to, REGTEST)),),
    )
    return tx.raw.hex()


async def test_broadcast_is_idempotent_and_conflicts_are_rejected(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    deposit = new_address()
    funding = bitcoind.pay(deposit, "0.01")
    bitcoind.mine(1)
    sweep = _spend(funding, 0, 1_000_000, new_address(), 2_000)

    txid = await bitcoin.broadcast(sweep)
    assert await bitcoin.broadcast(sweep) == txid  # a job retried after a crash
    cheaper = _spend(funding, 0, 1_000_000, new_address(), 1_000)
    with pytest.raises(BroadcastRejected):
        await bitcoin.broadcast(cheaper)
    bitcoind.mine(1)
    assert await bitcoin.broadcast(sweep) == txid  # already confirmed: still its txid
    assert await bitcoin.confirmations(txid) == 1
    with pytest.raises(BroadcastRejected):
        await bitcoin.broadcast(_spend(os.urandom(32).hex(), 0, 10_000, new_address(), 1_000))
    with pytest.raises(BroadcastRejected):
        await bitcoin.broadcast("00")


async def test_fee_estimate_in_sat_per_vbyte_with_a_fallback(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    estimate = await bitcoin.estimate_fee()
    assert (estimate.unit_price, estimate.unit) == (10, "sat/vB")
    assert estimate.typical_cost == Money.from_minor_units(1410, Asset.BTC)

    bitcoind.fee(None)  # a fresh node: "Insufficient data or no feerate found"
    fallback = await bitcoin.estimate_fee()
    assert fallback.unit_price == bitcoin.fallback_fee_sat_vb


async def test_balance_counts_confirmed_outputs_only(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    address = new_address()
    bitcoind.pay(address, "0.25")
    bitcoind.mine(1)
    bitcoind.pay(address, "0.5")

    assert await bitcoin.balance(address, Asset.BTC) == btc("0.25")
    bitcoind.mine(1)
    assert await bitcoin.balance(address, Asset.BTC) == btc("0.75")
    with pytest.raises(ValueError, match="BTC"):
        await bitcoin.balance(address, Asset.USDT)


async def test_a_node_that_goes_away_is_unavailable_and_works_when_back(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    bitcoind.mine(1)
    bitcoind.served.stop()  # connection refused
    with pytest.raises(NodeUnavailable):
        await bitcoin.tip()
    bitcoind.served.start()
    assert (await bitcoin.tip()).height == 1

    for mode in ("503", "warmup"):  # work queue full; -28 "Loading block index…"
        bitcoind.down(mode)
        with pytest.raises(NodeUnavailable):
            await bitcoin.scan(1, 1, {new_address()})
        bitcoind.up()
        assert await bitcoin.scan(1, 1, {new_address()}) == []


async def test_wrong_credentials_are_a_chain_error_not_an_outage(bitcoind: Bitcoind) -> None:
    intruder = BitcoinConnector(
        BitcoinRpc(bitcoind.rpc_url, "qpeapay", "wrong", attempts=3, backoff_s=5),
        BitcoinNetwork.regtest,
    )
    started = time.monotonic()
    with pytest.raises(ChainError) as caught:
        await intruder.tip()
    assert time.monotonic() - started < 2, "a refused credential is not worth retrying"
    assert not isinstance(caught.value, NodeUnavailable)
    assert "wrong" not in caught.value.message and "wrong" not in repr(intruder.rpc)


async def test_readiness_checks_the_network_and_the_txindex(bitcoind: Bitcoind) -> None:
    assert await connector_for(bitcoind.rpc_url).ready() == "ok"
    mainnet = BitcoinConnector(connector_for(bitcoind.rpc_url).rpc, BitcoinNetwork.mainnet)
    with pytest.raises(ChainError, match="another network"):
        await mainnet.ready()


def _floats(value: Any, path: str = "") -> list[str]:
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _floats(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _floats(v, f"{path}[{i}]")]
    return []


async def test_python_bitcoinrpc_reads_every_amount_as_decimal(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    address = new_address()
    txid = bitcoind.pay(address, "0.00000547")
    block_hash = bitcoind.mine(1)[0]

    block = await bitcoin.rpc.call("getblock", block_hash, 2)
    mempool_free = await bitcoin.rpc.call("getrawtransaction", txid, 1)
    fee = await bitcoin.rpc.call("estimatesmartfee", 6)

    assert _floats(block) == _floats(mempool_free) == _floats(fee) == []
    assert block["tx"][1]["vout"][0]["value"] == Decimal("0.00000547")
    assert isinstance(block["tx"][1]["fee"], Decimal)
    found = await only(await bitcoin.scan(1, 1, {address}))
    assert found.amount.amount == Decimal("0.00000547")
    assert found.amount.amount.as_tuple().exponent == -8


async def test_an_address_added_to_the_watched_set_is_found_by_the_next_scan(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    first, later = new_address(), new_address()
    watched = {first, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "not an address"}  # never ours here
    bitcoind.pay(first, "0.001")
    bitcoind.pay(later, "0.002")
    bitcoind.mine(1)
    assert [t.to_address for t in await bitcoin.scan(1, 1, watched)] == [first]

    watched.add(later)  # the watchers grow one set in place

    found = await bitcoin.scan(1, 1, watched)
    assert {(t.to_address, t.amount) for t in found} == {
        (first, btc("0.001")),
        (later, btc("0.002")),
    }
    watched.discard(first)
    assert [t.to_address for t in await bitcoin.scan(1, 1, watched)] == [later]
