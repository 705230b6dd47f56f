"""A withdrawal the signer refuses (its network fee above SIGNER_MAX_FEE) fails at once and
its funds return: it is neither retried nor left holding the customer's money."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from backend import queue
from backend.db import unit_of_work
from backend.keys import service as keys
from backend.keys import signer
from backend.runtime import Runtime
from backend.treasury.models import OutboundTx
from backend.withdrawals import processing
from contract.money import Asset, Network
from tests.backend.connectors.bitcoin.conftest import new_address as new_btc_address
from tests.backend.wallets.nodes import Nodes
from tests.backend.wallets.support import books_balance, credit, key, wallet
from tests.identity import Account
from tests.rates_feed import RatesFeed


@pytest.fixture(autouse=True)
def _setting(rates_feed: RatesFeed, master_seed: signer.SeedInfo) -> None:
    """Rates for fees and limits; a seed for the hot wallets."""


async def step(runtime: Runtime, withdrawal_id: str) -> bool:
    async with unit_of_work(runtime.sessionmaker) as session:
        queue.bind(session, runtime.queue)
        return await processing.advance(session, runtime, withdrawal_id)


async def test_a_fee_above_the_cap_fails_the_withdrawal_and_returns_the_hold(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        hot = (await keys.hot_wallet(session, runtime.settings, Network.bitcoin)).address
    await credit(runtime, customer.user_id, "0.05", Asset.BTC, Network.bitcoin)
    nodes.bitcoind.pay(hot, "0.05")
    nodes.bitcoind.mine(1)
    made = await api.post(
        "/v1/withdrawals",
        json={
            "asset": "BTC",
            "network": "bitcoin",
            "address": new_btc_address(),
            "amount": "0.005",
        },
        headers=customer.headers | key(),
    )
    assert made.status_code == 201, made.text
    withdrawal_id = made.json()["id"]
    assert Decimal((await wallet(api, customer, Asset.BTC))["held"]) > 0

    # A signer whose cap is below any fee this payment could pay (one satoshi).
    tight = runtime.settings.model_copy(
        update={"signer_max_fee": runtime.settings.signer_max_fee | {Asset.BTC: Decimal("1e-8")}}
    )
    refusing = dataclasses.replace(runtime, settings=tight)
    assert await step(refusing, withdrawal_id)
    failed = (await api.get(f"/v1/withdrawals/{withdrawal_id}", headers=customer.headers)).json()
    assert failed["status"] == "failed" and failed["failure_code"] == "fee_above_cap"
    assert "fees" in failed["failure_message"]
    btc = await wallet(api, customer, Asset.BTC)
    assert (Decimal(btc["available"]), Decimal(btc["held"])) == (Decimal("0.05"), 0)
    assert not await step(refusing, withdrawal_id)  # final: not tried again
    assert not await step(runtime, withdrawal_id)  # not even once fees allow
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(OutboundTx)) == 0
    await books_balance(runtime)
