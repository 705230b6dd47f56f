"""BTC and USDT-TRC20 withdrawals through the Core and java-tron stand-ins, with the real
connectors: coins chosen and signed (P2WPKH, change back to the hot wallet), the TRC-20
transfer signed over its protobuf txID, broadcast accepted, confirmed after mining, and
the ledger's hot-wallet accounts equal to what the chain says the hot wallet holds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from backend import queue
from backend.db import unit_of_work
from backend.keys import service as keys
from backend.keys import signer
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.runtime import Runtime
from backend.withdrawals import processing
from contract.money import Asset, Money, Network
from tests.backend.connectors.bitcoin.conftest import new_address as new_btc_address
from tests.backend.connectors.tron.conftest import new_address as new_tron_address
from tests.backend.wallets.nodes import Nodes
from tests.backend.wallets.support import books_balance, credit, key, wallet
from tests.identity import Account
from tests.rates_feed import RatesFeed


@pytest.fixture(autouse=True)
def _setting(rates_feed: RatesFeed, master_seed: signer.SeedInfo) -> None:
    """Rates for fees and limits; a seed for the hot wallets."""


async def hot_wallet(runtime: Runtime, network: Network) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        return (await keys.hot_wallet(session, runtime.settings, network)).address


async def step(runtime: Runtime, withdrawal_id: str) -> bool:
    async with unit_of_work(runtime.sessionmaker) as session:
        queue.bind(session, runtime.queue)
        return await processing.advance(session, runtime, withdrawal_id)


async def status(api: httpx.AsyncClient, customer: Account, withdrawal_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/withdrawals/{withdrawal_id}", headers=customer.headers)
    body: dict[str, Any] = response.json()
    return body


async def hot_account(runtime: Runtime, asset: Asset, network: Network) -> Decimal:
    async with unit_of_work(runtime.sessionmaker) as session:
        account = await ledger.system_account(session, Purpose.hot_wallet, asset, network)
        return (await ledger.balance(session, account.id)).amount


async def own_money(runtime: Runtime, amount: str, asset: Asset, network: Network) -> None:
    """Our own coins put on a hot wallet (gas money): hot wallet account → treasury."""
    async with unit_of_work(runtime.sessionmaker) as session:
        hot = await ledger.system_account(session, Purpose.hot_wallet, asset, network)
        ours = await ledger.system_account(session, Purpose.treasury, asset)
        await ledger.post(
            session,
            f"test-fund:{network}:{asset}",
            ledger.transfer(hot.id, ours.id, Money.of(amount, asset)),
        )


async def test_a_btc_withdrawal_is_broadcast_and_confirmed_after_mining(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account
) -> None:
    hot = await hot_wallet(runtime, Network.bitcoin)
    await credit(runtime, customer.user_id, "0.05", Asset.BTC, Network.bitcoin)
    nodes.bitcoind.pay(hot, "0.05")  # the customer's deposit, swept to the hot wallet
    nodes.bitcoind.mine(1)
    payee = new_btc_address()

    made = await api.post(
        "/v1/withdrawals",
        json={"asset": "BTC", "network": "bitcoin", "address": payee, "amount": "0.005"},
        headers=customer.headers | key(),
    )
    assert made.status_code == 201, made.text
    withdrawal_id = made.json()["id"]

    assert await step(runtime, withdrawal_id)  # signed
    assert await step(runtime, withdrawal_id)  # broadcast: the node took it
    assert (await status(api, customer, withdrawal_id))["status"] == "broadcast"
    assert not await step(runtime, withdrawal_id)  # in the mempool, not yet in a block
    nodes.bitcoind.mine(1)
    assert await step(runtime, withdrawal_id)

    done = await status(api, customer, withdrawal_id)
    assert done["status"] == "confirmed" and done["confirmations"] == 1
    (paid,) = await nodes.bitcoin.unspent([payee])
    assert (paid.txid, paid.sats) == (done["txid"], 500_000)
    change = sum(c.sats for c in await nodes.bitcoin.unspent([hot]))
    assert 4_400_000 < change < 4_500_000  # the rest came back, less the miner's fee
    assert -(await hot_account(runtime, Asset.BTC, Network.bitcoin)) == Decimal(change) / 10**8
    btc = await wallet(api, customer, Asset.BTC)
    assert Decimal(btc["available"]) == Decimal("0.05") - Decimal(done["total"]["amount"])
    assert Decimal(btc["held"]) == 0
    await books_balance(runtime)


async def test_a_trc20_withdrawal_is_broadcast_and_confirmed_after_mining(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account
) -> None:
    hot = await hot_wallet(runtime, Network.tron)
    await credit(runtime, customer.user_id, "50", Asset.USDT, Network.tron)
    await own_money(runtime, "100", Asset.TRX, Network.tron)
    nodes.trond.pay(hot, "100", asset="TRX")
    nodes.trond.pay(hot, "50")
    nodes.trond.mine(1)
    payee = new_tron_address()

    made = await api.post(
        "/v1/withdrawals",
        json={"asset": "USDT", "network": "tron", "address": payee, "amount": "20"},
        headers=customer.headers | key(),
    )
    assert made.status_code == 201, made.text
    withdrawal_id = made.json()["id"]

    assert await step(runtime, withdrawal_id)  # signed
    assert await step(runtime, withdrawal_id)  # broadcast
    assert not await step(runtime, withdrawal_id)  # sent again (harmless), not yet in a block
    nodes.trond.mine(1)
    assert await step(runtime, withdrawal_id)

    done = await status(api, customer, withdrawal_id)
    assert done["status"] == "confirmed"
    assert await nodes.tron.balance(payee, Asset.USDT) == Money.of("20", "USDT")
    assert await nodes.tron.balance(hot, Asset.USDT) == Money.of("30", "USDT")
    # The energy burnt is a network fee, and the TRX account follows the chain.
    trx_left = (await nodes.tron.balance(hot, Asset.TRX)).amount
    assert trx_left < 100
    assert -(await hot_account(runtime, Asset.TRX, Network.tron)) == trx_left
    assert -(await hot_account(runtime, Asset.USDT, Network.tron)) == 30
    await books_balance(runtime)


async def test_a_hot_wallet_short_of_trx_signs_nothing(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account
) -> None:
    hot = await hot_wallet(runtime, Network.tron)
    await credit(runtime, customer.user_id, "50", Asset.USDT, Network.tron)
    nodes.trond.pay(hot, "50")  # USDT, but no TRX to burn for the energy
    nodes.trond.mine(1)

    made = await api.post(
        "/v1/withdrawals",
        json={"asset": "USDT", "network": "tron", "address": new_tron_address(), "amount": "5"},
        headers=customer.headers | key(),
    )
    assert not await step(runtime, made.json()["id"])

    assert (await status(api, customer, made.json()["id"]))["status"] == "requested"
    assert await nodes.tron.balance(hot, Asset.USDT) == Money.of("50", "USDT")
