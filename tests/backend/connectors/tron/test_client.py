"""The Tron connector against the java-tron stand-in: USDT transfers from receipts, failed
transfers that never succeed, finality at the solid head, reorgs, broadcasts, fees, outages."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from tronpy.async_contract import AsyncContract
from tronpy.keys import PrivateKey

from backend.connectors.chain import (
    BlockNotFound,
    BroadcastRejected,
    NodeUnavailable,
    Transfer,
)
from backend.connectors.tron import FINAL_CONFIRMATIONS, TronConnector
from backend.sandbox.tron_wire import USDT_ABI
from contract.money import Asset, Money, Network
from tests.backend.connectors.tron.conftest import USDT, Trond, new_address, new_key


def usdt(amount: str) -> Money:
    return Money.of(amount, Asset.USDT)


def only(transfers: list[Transfer]) -> Transfer:
    assert len(transfers) == 1, transfers
    return transfers[0]


async def test_a_usdt_payment_is_found_in_its_block(trond: Trond, tron: TronConnector) -> None:
    address = new_address()
    txid = trond.pay(address, "12.5")
    assert await tron.pending({address}) == []
    assert await tron.confirmations(txid) == 0

    trond.mine(1)
    tip = await tron.tip()
    found = only(await tron.scan(tip.height, tip.height, {address}))

    assert (found.txid, found.index, found.to_address, found.block) == (txid, 0, address, tip)
    assert found.amount == usdt("12.5") and found.amount.amount.as_tuple().exponent == -6
    assert found.succeeded and found.network is Network.tron
    assert found.from_address is not None and found.from_address.startswith("T")
    assert await tron.confirmations(txid) == 1


async def test_a_receipt_gives_the_block_the_result_and_the_fee(
    trond: Trond, tron: TronConnector
) -> None:
    address = new_address()
    paid, reverted = trond.pay(address, "1"), trond.fail(address, "100")
    assert await tron.receipt(paid) is None  # not in a block yet
    trond.mine(1)
    tip = await tron.tip()
    receipt = await tron.receipt(paid)
    assert receipt is not None
    assert (receipt.txid, receipt.block_height, receipt.succeeded) == (paid, tip.height, True)
    assert receipt.fee.asset is Asset.TRX
    failed = await tron.receipt(reverted)
    assert failed is not None and failed.succeeded is False
    assert await tron.receipt("ab" * 32) is None
    trond.down()
    try:
        with pytest.raises(NodeUnavailable):
            await tron.receipt(paid)
    finally:
        trond.up()


async def test_a_reverted_transfer_is_reported_and_never_succeeds(
    trond: Trond, tron: TronConnector
) -> None:
    address = new_address()
    txid = trond.fail(address, "100")
    trond.mine(1)
    tip = await tron.tip()

    failed = only(await tron.scan(tip.height, tip.height, {address}))

    assert (failed.txid, failed.succeeded, failed.amount) == (txid, False, usdt("100"))
    assert await tron.balance(address, Asset.USDT) == usdt("0")
    trond.mine(FINAL_CONFIRMATIONS + 1)  # final, and still a failure
    again = only(await tron.scan(tip.height, tip.height, {address}))
    assert again.succeeded is False
    assert await tron.confirmations(txid) > FINAL_CONFIRMATIONS


async def test_confirmations_reach_19_only_once_the_block_is_solidified(
    trond: Trond, tron: TronConnector
) -> None:
    txid = trond.pay(new_address(), "1")
    trond.mine(1)
    block = (await tron.tip()).height

    trond.mine(FINAL_CONFIRMATIONS - 1)  # head - block + 1 == 19, solid head still below
    assert await tron.solidified_height() < block
    assert await tron.confirmations(txid) == FINAL_CONFIRMATIONS - 1

    trond.mine(1)
    assert await tron.solidified_height() == block
    assert await tron.confirmations(txid) == FINAL_CONFIRMATIONS + 1


async def test_a_payment_split_over_two_transactions_is_two_transfers(
    trond: Trond, tron: TronConnector
) -> None:
    address, stranger = new_address(), new_address()
    first = trond.pay(address, "60")
    trond.pay(stranger, "5")
    trond.mine(1)
    second = trond.pay(address, "40")
    trond.mine(1)
    tip = await tron.tip()

    transfers = await tron.scan(tip.height - 1, tip.height, [address])

    assert [t.txid for t in transfers] == [first, second]
    assert transfers[0].amount + transfers[1].amount == usdt("100")


async def test_a_reorg_above_the_solid_head_moves_the_payment(
    trond: Trond, tron: TronConnector
) -> None:
    address = new_address()
    txid = trond.pay(address, "7")
    trond.mine(1)
    tip = await tron.tip()
    assert only(await tron.scan(tip.height, tip.height, {address})).block == tip

    trond.reorg(1)

    replaced = await tron.block_at(tip.height)
    assert replaced.hash != tip.hash and replaced.parent_hash == tip.parent_hash
    new_tip = await tron.tip()
    assert await tron.scan(tip.height, new_tip.height, {address}) == []
    assert await tron.confirmations(txid) == 0
    trond.mine(1)
    again = only(await tron.scan(tip.height, new_tip.height + 1, {address}))
    assert again.txid == txid and again.block is not None and again.block.hash != tip.hash
    assert await tron.confirmations(txid) == 1


async def test_a_dropped_transaction_is_gone_for_good(trond: Trond, tron: TronConnector) -> None:
    address = new_address()
    txid = trond.pay(address, "3")
    trond.mine(2)
    tip = await tron.tip()

    trond.reorg(2, drop=True)
    trond.mine(3)

    assert await tron.scan(tip.height - 1, (await tron.tip()).height, {address}) == []
    assert await tron.confirmations(txid) == 0
    with pytest.raises(BlockNotFound):
        await tron.block_at((await tron.tip()).height + 1)


async def test_blocks_chain_through_parent_hashes(trond: Trond, tron: TronConnector) -> None:
    trond.mine(3)
    refs = [await tron.block_at(h) for h in range(4)]

    assert refs[0].height == 0 and refs[0].parent_hash == "0" * 64
    assert all(refs[h].parent_hash == refs[h - 1].hash for h in range(1, 4))
    assert all(int(ref.hash[:16], 16) == ref.height for ref in refs)


async def _funded(trond: Trond, usdt_amount: str) -> tuple[PrivateKey, str]:
    key = new_key()
    address = key.public_key.to_base58check_address()
    trond.pay(address, "40", asset="TRX")  # activates the account and pays the energy
    trond.pay(address, usdt_amount)
    trond.mine(1)
    return key, address


async def _signed_transfer(
    tron: TronConnector, key: PrivateKey, to: str, units: int, fee_limit: int = 50_000_000
) -> str:
    """What the signer hands over: tronpy's JSON of a built and signed USDT transfer."""
    contract = AsyncContract(addr=USDT, abi=USDT_ABI, client=tron.client)
    owner = key.public_key.to_base58check_address()
    builder = await contract.functions.transfer(to, units)
    txn = await builder.with_owner(owner).fee_limit(fee_limit).build()
    return json.dumps(txn.sign(key).to_json())


async def test_a_signed_sweep_is_broadcast_once_and_confirms(
    trond: Trond, tron: TronConnector
) -> None:
    key, deposit = await _funded(trond, "25")
    hot_wallet = new_address()
    signed = await _signed_transfer(tron, key, hot_wallet, 25_000_000)

    txid = await tron.broadcast(signed)
    assert await tron.broadcast(signed) == txid  # DUP_TRANSACTION_ERROR means it is in
    trond.mine(1)

    assert await tron.confirmations(txid) == 1
    assert await tron.balance(hot_wallet, Asset.USDT) == usdt("25")
    assert await tron.balance(deposit, Asset.USDT) == usdt("0")
    burned = Money.from_minor_units(130_285 * 100, Asset.TRX)  # energy for a new holder
    assert await tron.balance(deposit, Asset.TRX) == Money.of("40", Asset.TRX) - burned


async def test_broadcast_refusals_are_rejections(trond: Trond, tron: TronConnector) -> None:
    key, _ = await _funded(trond, "5")
    signed = json.loads(await _signed_transfer(tron, key, new_address(), 1_000_000))
    forged = dict(
        signed,
        signature=[
            json.loads(await _signed_transfer(tron, new_key(), new_address(), 1))["signature"][0]
        ],
    )
    with pytest.raises(BroadcastRejected) as sig:
        await tron.broadcast(json.dumps(forged))
    assert "SIGERROR" in str(sig.value.extra["reason"])

    unactivated = new_key()  # holds nothing, not even an account
    with pytest.raises(BroadcastRejected) as no_account:
        await tron.broadcast(await _signed_transfer(tron, unactivated, new_address(), 1))
    assert no_account.value.extra["tron_code"] == "CONTRACT_VALIDATE_ERROR"
    with pytest.raises(BroadcastRejected):
        await tron.broadcast("not json")


async def test_a_transfer_without_energy_fails_in_its_block(
    trond: Trond, tron: TronConnector
) -> None:
    key, deposit = await _funded(trond, "5")
    hot_wallet = new_address()
    fee_limit = 1_000_000  # 1 TRX: far from the ~13 TRX of energy a new holder costs
    txid = await tron.broadcast(await _signed_transfer(tron, key, hot_wallet, 5_000_000, fee_limit))
    trond.mine(1)
    tip = await tron.tip()

    failed = only(await tron.scan(tip.height, tip.height, {hot_wallet}))
    assert (failed.txid, failed.succeeded, failed.amount) == (txid, False, usdt("5"))
    info = await tron.client.get_transaction_info(txid)
    assert info["receipt"]["result"] == "OUT_OF_ENERGY"
    assert await tron.balance(deposit, Asset.USDT) == usdt("5")
    assert await tron.balance(deposit, Asset.TRX) == Money.of("39", Asset.TRX)  # limit burned


async def test_balances_in_usdt_and_trx(trond: Trond, tron: TronConnector) -> None:
    address = new_address()
    assert await tron.balance(address, Asset.TRX) == Money.zero(Asset.TRX)  # not activated
    trond.pay(address, "1.000001")
    trond.pay(address, "2.5", asset="TRX")
    trond.mine(1)

    assert await tron.balance(address, Asset.USDT) == usdt("1.000001")
    assert await tron.balance(address, Asset.TRX) == Money.of("2.5", Asset.TRX)
    with pytest.raises(ValueError, match="BTC"):
        await tron.balance(address, Asset.BTC)


async def test_fee_estimate_reads_the_energy_price(trond: Trond, tron: TronConnector) -> None:
    estimate = await tron.estimate_fee()
    assert (estimate.unit_price, estimate.unit) == (100, "sun/energy")
    assert estimate.typical_cost == Money.of("13.3735", Asset.TRX)  # 130,285 energy + 345 B

    trond.config(energy_fee=210)
    assert (await tron.estimate_fee()).typical_cost.amount == Decimal("27.704850")


async def test_a_node_that_goes_away_is_unavailable_and_works_when_back(
    trond: Trond, tron: TronConnector
) -> None:
    trond.mine(1)
    trond.down()  # the gateway answers 503
    with pytest.raises(NodeUnavailable):
        await tron.tip()
    trond.up()
    assert (await tron.tip()).height == 1

    trond.served.stop()  # connection refused
    with pytest.raises(NodeUnavailable):
        await tron.scan(1, 1, {new_address()})
    trond.served.start()
    assert await tron.scan(1, 1, {new_address()}) == []
    assert await tron.ready() == "ok"


def test_trongrid_needs_our_own_api_key() -> None:
    with pytest.raises(ValueError, match="TRON_API_KEY"):
        TronConnector("https://api.trongrid.io", USDT)


async def test_an_address_added_to_the_watched_set_is_found_by_the_next_scan(
    trond: Trond, tron: TronConnector
) -> None:
    first, later, broke = new_address(), new_address(), new_address()
    watched = {first, "not an address"}  # matches nothing, breaks nothing
    paid = trond.pay(first, "1")
    trond.pay(later, "2")
    failed = trond.fail(broke, "3")
    trond.mine(1)
    tip = await tron.tip()
    assert [t.txid for t in await tron.scan(tip.height, tip.height, watched)] == [paid]

    watched |= {later, broke}  # the watchers grow one set in place

    found = await tron.scan(tip.height, tip.height, watched)
    assert {(t.to_address, t.amount, t.succeeded) for t in found} == {
        (first, usdt("1"), True),
        (later, usdt("2"), True),
        (broke, usdt("3"), False),
    }
    assert only([t for t in found if not t.succeeded]).txid == failed
