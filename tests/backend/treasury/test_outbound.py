"""The treasury's outbound transactions on a real anvil node and the Bitcoin Core stand-in:
one signature per business step, one unsent transaction per sender at a time, a refusal that
costs nothing and gives its nonce back, a transfer that reverts in its block (final, fee paid
once), a transaction that left the chain sent again as the very same bytes, and a Bitcoin
payment whose fee is fixed when signed and posted once it confirms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_utils import keccak
from sqlalchemy import func, select

from backend.connectors.ethereum.client import EthereumConnector
from backend.db import unit_of_work
from backend.events.models import Event
from backend.keys import service as keys
from backend.keys import signer
from backend.keys.models import ChainAddress
from backend.ledger import service as ledger
from backend.ledger.models import LedgerTransaction, Purpose
from backend.runtime import Runtime
from backend.sandbox.ethereum import send_ether, send_test_usdt
from backend.treasury import outbound
from backend.treasury.models import OutboundKind, OutboundStatus, OutboundTx
from contract.ids import new_id
from contract.money import Asset, Money, Network
from tests.backend.connectors.bitcoin.conftest import new_address as new_btc_address
from tests.backend.wallets.nodes import Nodes
from tests.chains.anvil import Payer, mined

RECIPIENT = "0x00000000000000000000000000000000000B0b01"
# TestUSDT's storage: slot 0 totalSupply, slot 1 the balanceOf mapping (constants and
# immutables take no slot), so an address's balance lives at keccak(address . 1).
BALANCES_SLOT = 1


@pytest.fixture(autouse=True)
def _seed(master_seed: signer.SeedInfo) -> None:
    """A fresh seed per test: a fresh hot wallet, whose nonces start at 0."""


async def hot(runtime: Runtime) -> ChainAddress:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await keys.hot_wallet(session, runtime.settings, Network.ethereum)


async def funded_hot_wallet(
    runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str, *, coins: str = "100"
) -> ChainAddress:
    source = await hot(runtime)
    rpc = nodes.anvil.rpc_url
    await send_test_usdt(rpc, payer.private_key, usdt, source.address, Money.of(coins, "USDT"))
    await send_ether(rpc, payer.private_key, source.address, Money.of("1", Asset.ETH))
    return source


async def sign(
    runtime: Runtime, source: ChainAddress, amount: str, reference: str | None = None
) -> OutboundTx:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await outbound.sign(
            session,
            runtime,
            kind=OutboundKind.withdrawal,
            reference_id=reference or new_id("wd"),
            source=source,
            to=RECIPIENT,
            amount=Money.of(amount, Asset.USDT),
        )


async def broadcast(runtime: Runtime, tx: OutboundTx) -> OutboundTx:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await outbound.broadcast(session, runtime, await outbound.get(session, tx.id))


async def track(runtime: Runtime, tx: OutboundTx) -> OutboundTx:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await outbound.track(session, runtime, await outbound.get(session, tx.id))


async def fee_journals(runtime: Runtime, tx: OutboundTx) -> int:
    async with unit_of_work(runtime.sessionmaker) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.idempotency_key == f"outbound:{tx.id}:fee")
        )
        return int(count or 0)


async def network_fees(runtime: Runtime) -> Decimal:
    async with unit_of_work(runtime.sessionmaker) as session:
        account = await ledger.system_account(session, Purpose.network_fees, Asset.ETH)
        return (await ledger.balance(session, account.id)).amount


async def take_usdt_away(nodes: Nodes, usdt: str, holder: str) -> None:
    """The token balance gone from under a signed transfer, as if spent elsewhere."""
    slot = keccak(bytes.fromhex(holder[2:].rjust(64, "0")) + BALANCES_SLOT.to_bytes(32, "big"))
    await nodes.anvil.rpc("anvil_setStorageAt", usdt, "0x" + slot.hex(), "0x" + "00" * 32)


async def test_a_step_is_signed_once_and_a_repeat_finds_the_first(
    runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str
) -> None:
    source = await funded_hot_wallet(runtime, nodes, payer, usdt)
    first = await sign(runtime, source, "5", "wd_once")
    again = await sign(runtime, source, "5", "wd_once")

    assert again.id == first.id and again.txid == first.txid and again.raw == first.raw
    async with unit_of_work(runtime.sessionmaker) as session:
        rows = await session.scalar(select(func.count()).select_from(OutboundTx))
        signed = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.type == "outbound_transaction.signed", Event.subject_id == first.id)
        )
    assert (rows, signed) == (1, 1)
    assert (first.status, first.nonce, first.fee) == (OutboundStatus.signed, 0, None)


async def test_a_sender_signs_nothing_more_while_a_transaction_waits_unsent(
    runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str, ethereum: EthereumConnector
) -> None:
    source = await funded_hot_wallet(runtime, nodes, payer, usdt)
    first = await sign(runtime, source, "5")

    with pytest.raises(outbound.SenderBusy) as busy:
        await sign(runtime, source, "6")
    assert busy.value.status == 409 and busy.value.code == "sender_busy"

    assert (await broadcast(runtime, first)).status == OutboundStatus.broadcast
    second = await sign(runtime, source, "6")  # the next nonce, no gap
    assert second.nonce == 1
    await broadcast(runtime, second)
    assert (await mined(ethereum, second.txid)).succeeded
    assert await ethereum.balance(RECIPIENT, Asset.USDT) >= Money.of("11", Asset.USDT)


async def test_a_refused_broadcast_is_final_costs_nothing_and_frees_its_nonce(
    runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str
) -> None:
    source = await funded_hot_wallet(runtime, nodes, payer, usdt)
    refused = await sign(runtime, source, "5")
    await nodes.anvil.rpc("anvil_setBalance", source.address, "0x0")  # no gas money now

    failed = await broadcast(runtime, refused)

    assert failed.status == OutboundStatus.failed
    assert (failed.fee, failed.fee_asset, failed.final_at is not None) == (None, None, True)
    assert failed.last_error
    assert (await broadcast(runtime, failed)).status == OutboundStatus.failed  # stays final
    assert await fee_journals(runtime, failed) == 0 and await network_fees(runtime) == 0
    # Never on chain, so its nonce is free: the next transaction takes it and goes through.
    await nodes.anvil.rpc("anvil_setBalance", source.address, hex(10**18))
    retry = await sign(runtime, source, "5")
    assert retry.nonce == refused.nonce == 0
    assert (await broadcast(runtime, retry)).status == OutboundStatus.broadcast


async def test_a_transfer_that_reverts_in_its_block_fails_and_its_fee_is_posted_once(
    runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str, ethereum: EthereumConnector
) -> None:
    source = await funded_hot_wallet(runtime, nodes, payer, usdt, coins="10")
    tx = await sign(runtime, source, "5")  # the node agreed it would succeed, then...
    await take_usdt_away(nodes, usdt, source.address)
    assert await ethereum.balance(source.address, Asset.USDT) == Money.zero(Asset.USDT)

    assert (await broadcast(runtime, tx)).status == OutboundStatus.broadcast
    receipt = await mined(ethereum, tx.txid)
    assert not receipt.succeeded

    final = await track(runtime, tx)
    assert final.status == OutboundStatus.failed
    assert final.last_error == "reverted in its block"
    assert Money(amount=final.fee, asset=Asset(final.fee_asset)) == receipt.fee()
    assert final.block_height == receipt.block.height and final.confirmations >= 1
    for _ in range(2):  # tracking a final transaction again changes nothing
        assert (await track(runtime, final)).status == OutboundStatus.failed
    assert await fee_journals(runtime, tx) == 1
    assert await network_fees(runtime) == -receipt.fee().amount


async def test_a_confirmed_transfer_posts_the_fee_from_its_receipt_once(
    runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str, ethereum: EthereumConnector
) -> None:
    source = await funded_hot_wallet(runtime, nodes, payer, usdt)
    tx = await broadcast(runtime, await sign(runtime, source, "5"))
    receipt = await mined(ethereum, tx.txid)

    final = await track(runtime, tx)
    await track(runtime, final)

    assert final.status == OutboundStatus.confirmed and final.final_at is not None
    assert Money(amount=final.fee, asset=Asset.ETH) == receipt.fee()
    assert await fee_journals(runtime, tx) == 1
    assert await network_fees(runtime) == -receipt.fee().amount


async def test_a_transaction_that_left_the_chain_is_sent_again_as_the_same_bytes(
    runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str, ethereum: EthereumConnector
) -> None:
    source = await funded_hot_wallet(runtime, nodes, payer, usdt)
    tx = await sign(runtime, source, "5")
    before = await nodes.anvil.snapshot()
    await broadcast(runtime, tx)
    await mined(ethereum, tx.txid)
    await nodes.anvil.revert(before)  # its block is gone, and the transaction with it
    assert await ethereum.receipt(tx.txid) is None

    still = await track(runtime, tx)  # not in the chain: the recorded bytes go out again
    assert (still.status, still.confirmations) == (OutboundStatus.broadcast, 0)
    receipt = await mined(ethereum, tx.txid)  # the same txid, mined anew
    assert receipt.succeeded

    final = await track(runtime, still)
    assert final.status == OutboundStatus.confirmed and final.txid == tx.txid
    assert await ethereum.w3.eth.get_transaction_count(source.address) == 1
    assert await ethereum.balance(RECIPIENT, Asset.USDT) >= Money.of("5", Asset.USDT)


async def btc_hot_wallet(runtime: Runtime, nodes: Nodes, coins: str) -> ChainAddress:
    async with unit_of_work(runtime.sessionmaker) as session:
        source = await keys.hot_wallet(session, runtime.settings, Network.bitcoin)
    nodes.bitcoind.pay(source.address, coins)
    nodes.bitcoind.mine(1)
    return source


async def sign_btc(runtime: Runtime, source: ChainAddress, to: str, amount: str) -> OutboundTx:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await outbound.sign(
            session, runtime, kind=OutboundKind.withdrawal, reference_id=new_id("wd"),
            source=source, to=to, amount=Money.of(amount, Asset.BTC),
        )  # fmt: skip


async def btc_network_fees(runtime: Runtime) -> Decimal:
    async with unit_of_work(runtime.sessionmaker) as session:
        account = await ledger.system_account(session, Purpose.network_fees, Asset.BTC)
        return (await ledger.balance(session, account.id)).amount


async def test_a_bitcoin_payment_fixes_its_fee_when_signed_and_posts_it_once_confirmed(
    runtime: Runtime, nodes: Nodes
) -> None:
    source = await btc_hot_wallet(runtime, nodes, "0.02")
    payee = new_btc_address()
    tx = await sign_btc(runtime, source, payee, "0.005")
    assert tx.fee is not None and tx.fee > 0 and tx.fee_asset == "BTC"

    sent = await broadcast(runtime, tx)
    assert sent.status == OutboundStatus.broadcast
    assert (await track(runtime, sent)).status == OutboundStatus.broadcast  # in the mempool
    assert await fee_journals(runtime, tx) == 0
    nodes.bitcoind.mine(1)
    final = await track(runtime, sent)
    await track(runtime, final)

    assert (final.status, final.fee, final.confirmations) == (OutboundStatus.confirmed, tx.fee, 1)
    (paid,) = await nodes.bitcoin.unspent([payee])
    assert (paid.txid, paid.sats) == (tx.txid, 500_000)
    assert await fee_journals(runtime, tx) == 1
    assert await btc_network_fees(runtime) == -tx.fee


async def test_a_bitcoin_payment_whose_coin_was_double_spent_is_refused_and_costs_nothing(
    runtime: Runtime, nodes: Nodes
) -> None:
    source = await btc_hot_wallet(runtime, nodes, "0.02")
    tx = await sign_btc(runtime, source, new_btc_address(), "0.005")
    # The block that paid the hot wallet leaves the chain and a conflicting spend of the
    # same coins confirms instead: the coin our transaction spends no longer exists.
    nodes.bitcoind.reorg(1, drop=True)

    failed = await broadcast(runtime, tx)

    assert failed.status == OutboundStatus.failed
    assert (failed.fee, failed.fee_asset) == (None, None)  # never mined: the planned fee is void
    assert failed.last_error and "missingorspent" in failed.last_error
    assert await fee_journals(runtime, tx) == 0 and await btc_network_fees(runtime) == 0
