"""USDT withdrawals on a real anvil node: signed in the signer, broadcast, mined with receipt
status 1, and the ledger agreeing with the chain afterwards; a refused broadcast returns
the hold exactly once; every step run again changes nothing and never sends twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from arq.worker import Worker
from sqlalchemy import func, select

from backend import queue
from backend.connectors.ethereum.client import EthereumConnector
from backend.db import unit_of_work
from backend.keys import service as keys
from backend.keys import signer
from backend.ledger import service as ledger
from backend.ledger.models import LedgerTransaction, Purpose
from backend.limits.models import LimitUsage
from backend.runtime import Runtime
from backend.sandbox.ethereum import send_ether, send_test_usdt
from backend.settings import Settings
from backend.treasury import outbound
from backend.treasury.models import OutboundTx
from backend.withdrawals import processing
from backend.withdrawals.models import Withdrawal
from contract.money import Asset, Money, Network
from tests.backend.wallets.nodes import Nodes
from tests.backend.wallets.support import available, books_balance, credit, key, wallet
from tests.chains.anvil import Payer
from tests.identity import Account
from tests.rates_feed import RatesFeed
from workers import main

RECIPIENT = "0x00000000000000000000000000000000000A11CE"


@pytest.fixture(autouse=True)
def _setting(rates_feed: RatesFeed, master_seed: signer.SeedInfo) -> None:
    """Rates for fees and limits; a seed for the hot wallet."""


async def hot_wallet(runtime: Runtime) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        return (await keys.hot_wallet(session, runtime.settings, Network.ethereum)).address


async def fund_hot_wallet(
    runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str, *, coins: str, ether: str
) -> str:
    """Put USDT and ETH on the hot wallet on chain, with the ledger entries that say so:
    USDT arrived as customers' deposits (credited by the caller), ETH is our own money."""
    hot = await hot_wallet(runtime)
    await send_test_usdt(nodes.anvil.rpc_url, payer.private_key, usdt, hot, Money.of(coins, "USDT"))
    await send_ether(nodes.anvil.rpc_url, payer.private_key, hot, Money.of(ether, "ETH"))
    async with unit_of_work(runtime.sessionmaker) as session:
        gas = await ledger.system_account(session, Purpose.hot_wallet, Asset.ETH, Network.ethereum)
        ours = await ledger.system_account(session, Purpose.treasury, Asset.ETH)
        await ledger.post(
            session, f"test-fund:{hot}", ledger.transfer(gas.id, ours.id, Money.of(ether, "ETH"))
        )
    return hot


async def step(runtime: Runtime, withdrawal_id: str) -> bool:
    """One run of the `withdrawals.advance` job, in its own transaction as the worker runs it."""
    async with unit_of_work(runtime.sessionmaker) as session:
        queue.bind(session, runtime.queue)
        return await processing.advance(session, runtime, withdrawal_id)


async def run_until_settled(runtime: Runtime, withdrawal_id: str) -> None:
    for _ in range(10):
        if not await step(runtime, withdrawal_id):
            return


async def state(runtime: Runtime, withdrawal_id: str) -> dict[str, Any]:
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await session.get(Withdrawal, withdrawal_id)
        assert row is not None
        journals = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.reference == withdrawal_id)
        )
        sends = await session.scalar(
            select(func.count()).select_from(OutboundTx).where(
                OutboundTx.reference_id == withdrawal_id
            )
        )  # fmt: skip
        return {"status": row.status, "txid": row.txid, "journals": journals, "sends": sends}


async def ledger_balance(runtime: Runtime, purpose: Purpose, asset: Asset) -> Decimal:
    async with unit_of_work(runtime.sessionmaker) as session:
        network = Network.ethereum if purpose is Purpose.hot_wallet else None
        account = await ledger.system_account(session, purpose, asset, network)
        return (await ledger.balance(session, account.id)).amount


async def request(api: httpx.AsyncClient, customer: Account, amount: str) -> dict[str, Any]:
    response = await api.post(
        "/v1/withdrawals",
        json={"asset": "USDT", "network": "ethereum", "address": RECIPIENT.lower(),
              "amount": amount},
        headers=customer.headers | key(),
    )  # fmt: skip
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_usdt_withdrawal_is_signed_broadcast_and_confirmed_and_the_books_agree(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str,
    customer: Account, ethereum: EthereumConnector,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "100", Asset.USDT, Network.ethereum)
    hot = await fund_hot_wallet(runtime, nodes, payer, usdt, coins="100", ether="1")
    before = await ethereum.balance(RECIPIENT, Asset.USDT)

    made = await request(api, customer, "40")
    await run_until_settled(runtime, made["id"])

    done = (await api.get(f"/v1/withdrawals/{made['id']}", headers=customer.headers)).json()
    assert done["status"] == "confirmed" and done["confirmations"] >= 1
    receipt = await ethereum.receipt(done["txid"])
    assert receipt is not None and receipt.succeeded  # receipt status 1
    # On chain: the recipient got exactly the amount, from the hot wallet.
    assert await ethereum.balance(RECIPIENT, Asset.USDT) == before + Money.of("40", "USDT")
    assert await ethereum.balance(hot, Asset.USDT) == Money.of("60", "USDT")
    # In the ledger: the customer paid amount + fees, nothing stays held, fees are ours,
    # and each hot-wallet account mirrors what the address holds on chain (gas included).
    total, fee = Decimal(done["total"]["amount"]), Decimal(done["fee"]["amount"])
    usdt_wallet = await wallet(api, customer, Asset.USDT)
    assert Decimal(usdt_wallet["available"]) == 100 - total
    assert Decimal(usdt_wallet["held"]) == 0
    assert await ledger_balance(runtime, Purpose.fees, Asset.USDT) == fee
    assert -(await ledger_balance(runtime, Purpose.hot_wallet, Asset.USDT)) == Decimal(60)
    eth_on_chain = (await ethereum.balance(hot, Asset.ETH)).amount
    assert -(await ledger_balance(runtime, Purpose.hot_wallet, Asset.ETH)) == eth_on_chain
    assert await ledger_balance(runtime, Purpose.network_fees, Asset.ETH) == -receipt.fee().amount
    await books_balance(runtime)
    # The history shows it, completed, with its txid.
    line = (await api.get("/v1/transactions", headers=customer.headers)).json()["data"][0]
    assert (line["kind"], line["status"], line["txid"]) == ("withdrawal", "completed",
                                                            done["txid"])  # fmt: skip


async def test_every_step_run_again_changes_nothing_and_sends_once(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str,
    customer: Account, ethereum: EthereumConnector,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "50", Asset.USDT, Network.ethereum)
    hot = await fund_hot_wallet(runtime, nodes, payer, usdt, coins="50", ether="1")
    made = await request(api, customer, "5")

    assert await step(runtime, made["id"])  # sign
    signed = await state(runtime, made["id"])
    # A worker that dies after broadcasting, before its commit: the node has the bytes, our
    # row still says signed.
    with pytest.raises(RuntimeError):
        async with unit_of_work(runtime.sessionmaker) as session:
            tx = await outbound.find(session, outbound.OutboundKind.withdrawal, made["id"])
            assert tx is not None
            await outbound.broadcast(session, runtime, tx)
            raise RuntimeError("worker killed")
    assert (await state(runtime, made["id"]))["status"] == "signed"

    await run_until_settled(runtime, made["id"])  # broadcasts the same bytes again, then tracks
    await run_until_settled(runtime, made["id"])
    for _ in range(3):
        assert not await step(runtime, made["id"])

    final = await state(runtime, made["id"])
    assert final["status"] == "confirmed" and final["txid"] == signed["txid"]
    assert final["sends"] == 1
    # hold, settle, and the fee of the one transaction: nothing posted twice
    assert final["journals"] == 3
    assert await ethereum.w3.eth.get_transaction_count(hot) == 1  # one transaction, ever
    assert await ethereum.balance(hot, Asset.USDT) == Money.of("45", "USDT")


async def test_a_refused_broadcast_fails_and_returns_the_hold_once(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str,
    customer: Account,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "20", Asset.USDT, Network.ethereum)
    hot = await fund_hot_wallet(runtime, nodes, payer, usdt, coins="20", ether="1")
    made = await request(api, customer, "7")
    assert await step(runtime, made["id"])  # signed while the hot wallet could pay its gas
    await nodes.anvil.rpc("anvil_setBalance", hot, "0x0")  # and now it cannot

    assert await step(runtime, made["id"])
    for _ in range(3):
        assert not await step(runtime, made["id"])

    done = (await api.get(f"/v1/withdrawals/{made['id']}", headers=customer.headers)).json()
    assert done["status"] == "failed"
    assert done["failure_code"] == "broadcast_rejected"
    assert "funds are back" in done["failure_message"]
    usdt_wallet = await wallet(api, customer, Asset.USDT)
    assert Decimal(usdt_wallet["available"]) == 20 and Decimal(usdt_wallet["held"]) == 0
    assert (await state(runtime, made["id"]))["journals"] == 2  # the hold and one release
    async with unit_of_work(runtime.sessionmaker) as session:
        usage = await session.scalar(select(LimitUsage).where(LimitUsage.reference == made["id"]))
        assert usage is not None and usage.released_at is not None
    # The nonce it held is free again: the next withdrawal takes it and goes through.
    await nodes.anvil.rpc("anvil_setBalance", hot, hex(10**18))
    again = await request(api, customer, "7")
    await run_until_settled(runtime, again["id"])
    assert (await state(runtime, again["id"]))["status"] == "confirmed"
    assert await available(api, customer, Asset.USDT) == 20 - Decimal(again["total"]["amount"])
    await books_balance(runtime)


async def test_a_hot_wallet_without_coins_keeps_the_withdrawal_waiting(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "20", Asset.USDT, Network.ethereum)
    made = await request(api, customer, "7")

    assert not await step(runtime, made["id"])  # the node says it would revert: not signed

    assert (await state(runtime, made["id"])) == {
        "status": "requested", "txid": None, "journals": 1, "sends": 0
    }  # fmt: skip
    held = Decimal((await wallet(api, customer, Asset.USDT))["held"])
    assert held == Decimal(made["total"]["amount"])


async def test_the_worker_takes_a_withdrawal_from_request_to_confirmed(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str,
    customer: Account, settings: Settings,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "30", Asset.USDT, Network.ethereum)
    await fund_hot_wallet(runtime, nodes, payer, usdt, coins="30", ether="1")
    made = await request(api, customer, "12")  # enqueues withdrawals.advance after its commit

    # A worker of its own, as `make run` starts it: its own runtime, Ethereum on anvil.
    own = settings.model_copy(
        update={"ethereum_rpc_url": nodes.anvil.rpc_url, "ethereum_usdt_contract": usdt,
                "chain_watchers": []}
    )  # fmt: skip
    worker = Worker(**main.worker_settings(own), burst=True, poll_delay=0.05,
                    handle_signals=False)  # fmt: skip
    try:
        await worker.async_run()
    finally:
        await worker.close()

    done = (await api.get(f"/v1/withdrawals/{made['id']}", headers=customer.headers)).json()
    assert done["status"] == "confirmed"
    assert await nodes.ethereum.balance(RECIPIENT, Asset.USDT) >= Money.of("12", "USDT")
    await books_balance(runtime)
