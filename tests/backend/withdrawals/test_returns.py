"""Every way an on-chain withdrawal gives its held funds back, on a real anvil node and the
java-tron stand-in: never sent within WITHDRAWAL_SEND_WITHIN_S (the hot wallet could not
pay, or its sender stayed busy), and reverted in its block. Each returns the hold exactly
once, stops counting against the limits, and leaves the books balanced; a busy sender
otherwise only makes it wait."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select, update

from backend.connectors.ethereum.client import EthereumConnector
from backend.db import unit_of_work
from backend.keys import signer
from backend.ledger.models import Purpose
from backend.limits.models import LimitUsage
from backend.runtime import Runtime
from backend.sandbox.tron_wire import to_hex
from backend.treasury.models import OutboundTx
from backend.withdrawals.models import Withdrawal
from contract.money import Asset, Money, Network
from tests.backend.connectors.tron.conftest import new_address as new_tron_address
from tests.backend.treasury.test_outbound import take_usdt_away
from tests.backend.wallets.nodes import Nodes
from tests.backend.wallets.support import books_balance, credit, key, wallet
from tests.backend.withdrawals.test_bitcoin_tron import hot_wallet, own_money
from tests.backend.withdrawals.test_ethereum import (
    fund_hot_wallet,
    ledger_balance,
    request,
    run_until_settled,
    state,
    step,
)
from tests.chains.anvil import Payer, mined
from tests.identity import Account
from tests.rates_feed import RatesFeed


@pytest.fixture(autouse=True)
def _setting(rates_feed: RatesFeed, master_seed: signer.SeedInfo) -> None:
    """Rates for fees and limits; a seed for the hot wallet."""


async def age(runtime: Runtime, withdrawal_id: str, by: timedelta) -> None:
    """As if `by` had passed since the request, on the database clock the deadline is read
    from."""
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(
            update(Withdrawal)
            .where(Withdrawal.id == withdrawal_id)
            .values(created_at=Withdrawal.created_at - by)
        )


async def released(runtime: Runtime, withdrawal_id: str) -> bool:
    async with unit_of_work(runtime.sessionmaker) as session:
        usage = await session.scalar(
            select(LimitUsage).where(LimitUsage.reference == withdrawal_id)
        )
        return usage is not None and usage.released_at is not None


async def balances(api: httpx.AsyncClient, customer: Account) -> tuple[Decimal, Decimal]:
    found = await wallet(api, customer, Asset.USDT)
    return Decimal(found["available"]), Decimal(found["held"])


async def test_a_withdrawal_not_sent_in_time_fails_and_returns_its_hold_once(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "20", Asset.USDT, Network.ethereum)
    made = await request(api, customer, "7")  # the hot wallet holds nothing: cannot sign
    total = Decimal(made["total"]["amount"])
    within = timedelta(seconds=runtime.settings.withdrawal_send_within_s)

    await age(runtime, made["id"], within - timedelta(minutes=1))
    assert not await step(runtime, made["id"])  # still in time: it keeps waiting, held
    assert await balances(api, customer) == (20 - total, total)

    await age(runtime, made["id"], timedelta(minutes=2))
    assert await step(runtime, made["id"])
    for _ in range(3):
        assert not await step(runtime, made["id"])

    done = (await api.get(f"/v1/withdrawals/{made['id']}", headers=customer.headers)).json()
    assert (done["status"], done["failure_code"], done["txid"]) == ("failed", "not_sent", None)
    assert "funds are back" in done["failure_message"]
    assert await balances(api, customer) == (20, 0)
    assert (await state(runtime, made["id"]))["journals"] == 2  # the hold and one release
    assert (await state(runtime, made["id"]))["sends"] == 0
    assert await released(runtime, made["id"])
    await books_balance(runtime)


async def test_a_withdrawal_reverted_in_its_block_fails_and_the_treasury_pays_the_gas(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str,
    customer: Account, ethereum: EthereumConnector,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "20", Asset.USDT, Network.ethereum)
    hot = await fund_hot_wallet(runtime, nodes, payer, usdt, coins="20", ether="1")
    made = await request(api, customer, "7")
    assert await step(runtime, made["id"])  # signed while the hot wallet held the USDT
    await take_usdt_away(nodes, usdt, hot)  # and now it does not

    assert await step(runtime, made["id"])  # broadcast: the node takes it, the block reverts
    txid = (await state(runtime, made["id"]))["txid"]
    receipt = await mined(ethereum, txid)
    assert not receipt.succeeded
    assert await step(runtime, made["id"])  # tracked: final, and failed
    for _ in range(3):
        assert not await step(runtime, made["id"])

    done = (await api.get(f"/v1/withdrawals/{made['id']}", headers=customer.headers)).json()
    assert (done["status"], done["failure_code"], done["txid"]) == ("failed", "reverted", txid)
    assert "failed on the network" in done["failure_message"]
    assert await balances(api, customer) == (20, 0)  # the customer pays nothing for it
    # The hold, its release, and the gas the reverted transaction burnt: ours, once.
    assert (await state(runtime, made["id"]))["journals"] == 3
    assert await ledger_balance(runtime, Purpose.network_fees, Asset.ETH) == -receipt.fee().amount
    assert await ledger_balance(runtime, Purpose.fees, Asset.USDT) == 0
    assert await released(runtime, made["id"])
    await books_balance(runtime)


async def test_a_withdrawal_behind_a_busy_sender_waits_and_fails_only_when_overdue(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str,
    customer: Account, ethereum: EthereumConnector,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "30", Asset.USDT, Network.ethereum)
    await fund_hot_wallet(runtime, nodes, payer, usdt, coins="30", ether="1")
    first = await request(api, customer, "5")
    second = await request(api, customer, "6")
    third = await request(api, customer, "4")
    held = sum(Decimal(w["total"]["amount"]) for w in (first, second, third))

    assert await step(runtime, first["id"])  # signed, not yet broadcast: the sender is busy
    assert not await step(runtime, second["id"])
    assert not await step(runtime, third["id"])
    assert (await state(runtime, second["id"]))["status"] == "requested"
    assert await balances(api, customer) == (30 - held, held)  # waiting costs nothing

    # The third waits past its deadline behind the busy sender: it fails, funds back.
    await age(runtime, third["id"], timedelta(seconds=runtime.settings.withdrawal_send_within_s))
    assert await step(runtime, third["id"])
    assert (await state(runtime, third["id"]))["status"] == "failed"
    assert await released(runtime, third["id"])

    # The first goes out; then the second signs the next nonce and follows it.
    await run_until_settled(runtime, first["id"])
    await run_until_settled(runtime, second["id"])
    for made in (first, second):
        assert (await state(runtime, made["id"]))["status"] == "confirmed"
    async with unit_of_work(runtime.sessionmaker) as session:
        nonces = (await session.scalars(select(OutboundTx.nonce).order_by(OutboundTx.nonce))).all()
    assert nonces == [0, 1]
    spent = Decimal(first["total"]["amount"]) + Decimal(second["total"]["amount"])
    assert await balances(api, customer) == (30 - spent, 0)
    await books_balance(runtime)


async def test_a_trc20_withdrawal_reverted_in_its_block_fails_and_returns_the_hold(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account
) -> None:
    hot = await hot_wallet(runtime, Network.tron)
    await credit(runtime, customer.user_id, "50", Asset.USDT, Network.tron)
    await own_money(runtime, "100", Asset.TRX, Network.tron)
    nodes.trond.pay(hot, "100", asset="TRX")
    nodes.trond.pay(hot, "50")
    nodes.trond.mine(1)
    made = await api.post(
        "/v1/withdrawals",
        json={"asset": "USDT", "network": "tron", "address": new_tron_address(), "amount": "20"},
        headers=customer.headers | key(),
    )
    assert made.status_code == 201, made.text
    withdrawal_id = made.json()["id"]
    assert await step(runtime, withdrawal_id)  # signed while the hot wallet held the USDT
    # The tokens leave the hot wallet before the transfer executes: java-tron still puts it
    # in a block, as REVERT, and burns the energy.
    nodes.trond.served.app.state.sim.node.usdt[to_hex(hot)] = 0

    assert await step(runtime, withdrawal_id)  # broadcast
    nodes.trond.mine(1)
    assert await step(runtime, withdrawal_id)  # tracked: final, and failed
    assert not await step(runtime, withdrawal_id)

    done = (await api.get(f"/v1/withdrawals/{withdrawal_id}", headers=customer.headers)).json()
    assert (done["status"], done["failure_code"]) == ("failed", "reverted")
    usdt_wallet = await wallet(api, customer, Asset.USDT)
    assert Decimal(usdt_wallet["available"]) == 50 and Decimal(usdt_wallet["held"]) == 0
    assert await released(runtime, withdrawal_id)
    # The burnt TRX is the treasury's network fee, and the TRX account follows the chain.
    trx_left = (await nodes.tron.balance(hot, Asset.TRX)).amount
    assert trx_left < 100
    async with unit_of_work(runtime.sessionmaker) as session:
        tx = await session.scalar(
            select(OutboundTx).where(OutboundTx.reference_id == withdrawal_id)
        )
    assert tx is not None and tx.fee == 100 - trx_left and tx.fee_asset == "TRX"
    assert await nodes.tron.balance(hot, Asset.USDT) == Money.zero(Asset.USDT)
    await books_balance(runtime)
