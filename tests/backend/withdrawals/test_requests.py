"""Requesting withdrawals through the API: addresses checked per network, fees and the hold
in one transaction, internal settlement to another customer's address, replays, and a
hundred concurrent requests that never overdraw one balance."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from backend.db import unit_of_work
from backend.keys import signer
from backend.ledger.models import LedgerAccount
from backend.limits.models import LimitUsage
from backend.runtime import Runtime
from backend.withdrawals.models import Withdrawal
from contract.money import Asset, Network
from tests.backend.wallets.nodes import Nodes
from tests.backend.wallets.support import (
    available,
    books_balance,
    credit,
    key,
    unlimited,
    wallet,
)
from tests.identity import Account
from tests.rates_feed import RatesFeed

# Valid addresses nobody here owns: a regtest P2WPKH, an EIP-55 one and a Tron one.
BTC_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
ETH_ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
TRX_ADDRESS = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"


@pytest.fixture(autouse=True)
def _market(rates_feed: RatesFeed, nodes: Nodes) -> None:
    """Fees and limits are priced at the current rates, network fees by the nodes."""


async def withdraw(api: httpx.AsyncClient, account: Account, **body: Any) -> httpx.Response:
    return await api.post("/v1/withdrawals", json=body, headers=account.headers | key())


async def withdrawals_in_db(runtime: Runtime) -> int:
    async with unit_of_work(runtime.sessionmaker) as session:
        return int(await session.scalar(select(func.count()).select_from(Withdrawal)) or 0)


@pytest.mark.parametrize(
    ("network", "address", "words"),
    [
        ("bitcoin", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kmdr0ce", "mainnet address"),
        ("bitcoin", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081", "checksum"),
        ("bitcoin", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "testnet address"),
        ("ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "checksum"),
        ("ethereum", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae", "40 hex digits"),
        ("ethereum", "0x" + "0" * 40, "lost"),
        ("tron", "TJRabPrwbZy45sbavfcjinPJC18kjpRTv9", "checksum"),
        ("tron", ETH_ADDRESS, "34 characters"),
    ],
)
async def test_bad_addresses_are_refused_per_network_and_nothing_is_held(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account,
    network: str, address: str, words: str,
) -> None:  # fmt: skip
    asset = "BTC" if network == "bitcoin" else "USDT"
    await credit(runtime, customer.user_id, "5", Asset(asset), Network(network))

    response = await withdraw(
        api, customer, asset=asset, network=network, address=address, amount="1"
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_address" and error["param"] == "address"
    assert words in error["message"]
    assert await available(api, customer, Asset(asset)) == 5
    assert await withdrawals_in_db(runtime) == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"asset": "USDT", "network": "bitcoin"}, "USDT is not sent on bitcoin"),
        ({"asset": "ETH", "network": "ethereum"}, "ETH is not sent on ethereum"),
        ({"amount": "0.0000001"}, "USDT has 6 decimals"),
        ({"amount": "0"}, "positive"),
        ({"amount": "1e1"}, None),
        ({"max_fee": 0.5}, "never floats"),
        ({"memo": "hi"}, "Unknown field"),
    ],
)
async def test_bad_bodies_are_422(
    api: httpx.AsyncClient, customer: Account, body: dict[str, Any], words: str | None
) -> None:
    base = {"asset": "USDT", "network": "ethereum", "address": ETH_ADDRESS, "amount": "1"}

    response = await withdraw(api, customer, **(base | body))

    if words is None:  # 1e1 is a fine way to write 10: refused by the (empty) balance, not the form
        assert response.status_code == 409
        return
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["message"]


async def test_preview_shows_fees_and_total_and_holds_nothing(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "100", Asset.USDT, Network.ethereum)

    response = await api.get(
        "/v1/withdrawals/preview",
        params={
            "asset": "USDT",
            "network": "ethereum",
            "address": ETH_ADDRESS.lower(),
            "amount": "25",
        },
        headers=customer.headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["address"] == ETH_ADDRESS  # checksummed
    assert body["internal"] is False
    assert [fee["kind"] for fee in body["fees"]] == ["network", "platform"]
    fee = sum(Decimal(f["amount"]["amount"]) for f in body["fees"])
    assert fee > 0 and Decimal(body["fee"]["amount"]) == fee
    assert Decimal(body["total"]["amount"]) == 25 + fee
    assert body["available"] == {"amount": "100.000000", "asset": "USDT"}
    assert await available(api, customer, Asset.USDT) == 100


async def test_a_request_holds_amount_plus_fees_until_it_is_sent(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "0.01", Asset.BTC, Network.bitcoin)

    response = await withdraw(
        api, customer, asset="BTC", network="bitcoin", address=BTC_ADDRESS, amount="0.002"
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "requested" and body["internal"] is False
    assert body["id"].startswith("wd_") and body["txid"] is None
    total = Decimal(body["total"]["amount"])
    assert total == Decimal("0.002") + Decimal(body["fee"]["amount"])
    btc = await wallet(api, customer, Asset.BTC)
    assert Decimal(btc["available"]) == Decimal("0.01") - total
    assert Decimal(btc["held"]) == total
    read = await api.get(f"/v1/withdrawals/{body['id']}", headers=customer.headers)
    assert read.json() == body
    await books_balance(runtime)


async def test_someone_elses_withdrawal_is_404(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "5", Asset.USDT, Network.tron)
    made = await withdraw(api, customer, asset="USDT", network="tron", address=TRX_ADDRESS,
                          amount="1")  # fmt: skip

    response = await api.get(f"/v1/withdrawals/{made.json()['id']}", headers=merchant.headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "withdrawal_not_found"


async def test_to_another_customers_deposit_address_settles_in_the_ledger_without_fees(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account,
    master_seed: signer.SeedInfo,
) -> None:  # fmt: skip
    theirs = (await api.get("/v1/wallets/tron/address", headers=merchant.headers)).json()
    await credit(runtime, customer.user_id, "30", Asset.USDT, Network.ethereum)

    response = await withdraw(
        api, customer, asset="USDT", network="tron", address=theirs["address"], amount="10"
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "confirmed" and body["internal"] is True
    assert body["fees"] == [] and body["total"]["amount"] == "10.000000"
    assert body["txid"] is None
    assert await available(api, customer, Asset.USDT) == 20
    assert await available(api, merchant, Asset.USDT) == 10
    # The merchant sees it as a deposit, from the customer.
    history = (await api.get("/v1/transactions", headers=merchant.headers)).json()["data"]
    assert [(line["kind"], line["counterparty"]) for line in history] == [
        ("deposit", customer.email)
    ]
    # No hot wallet moved: the only journals are the credit and the internal payment.
    async with unit_of_work(runtime.sessionmaker) as session:
        hot = await session.scalar(
            select(LedgerAccount.balance).where(LedgerAccount.purpose == "hot_wallet")
        )
    assert hot == Decimal(-30)
    await books_balance(runtime)


async def test_ones_own_deposit_address_and_the_hot_wallet_are_refused(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, master_seed: signer.SeedInfo
) -> None:
    mine = (await api.get("/v1/wallets/bitcoin/address", headers=customer.headers)).json()
    await credit(runtime, customer.user_id, "1", Asset.BTC, Network.bitcoin)
    async with unit_of_work(runtime.sessionmaker) as session:
        from backend.keys import service as keys

        hot = (await keys.hot_wallet(session, runtime.settings, Network.bitcoin)).address

    own = await withdraw(api, customer, asset="BTC", network="bitcoin",
                         address=mine["address"], amount="0.1")  # fmt: skip
    treasury = await withdraw(api, customer, asset="BTC", network="bitcoin", address=hot,
                              amount="0.1")  # fmt: skip

    assert own.status_code == 400 and own.json()["error"]["code"] == "own_address"
    assert treasury.status_code == 400
    assert treasury.json()["error"]["code"] == "address_not_allowed"
    assert await available(api, customer, Asset.BTC) == 1


async def test_a_fee_above_max_fee_is_refused(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "100", Asset.USDT, Network.ethereum)

    response = await withdraw(api, customer, asset="USDT", network="ethereum",
                              address=ETH_ADDRESS, amount="10", max_fee="0.01")  # fmt: skip

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "fee_changed"
    assert await available(api, customer, Asset.USDT) == 100


async def test_a_replay_holds_once(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "100", Asset.USDT, Network.ethereum)
    headers = customer.headers | key()
    body = {"asset": "USDT", "network": "ethereum", "address": ETH_ADDRESS, "amount": "10"}

    first = await api.post("/v1/withdrawals", json=body, headers=headers)
    again = await api.post("/v1/withdrawals", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await withdrawals_in_db(runtime) == 1
    held = Decimal((await wallet(api, customer, Asset.USDT))["held"])
    assert held == Decimal(first.json()["total"]["amount"])


async def test_over_the_balance_is_409_and_leaves_no_trace(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "10", Asset.USDT, Network.ethereum)

    response = await withdraw(api, customer, asset="USDT", network="ethereum",
                              address=ETH_ADDRESS, amount="10")  # fmt: skip

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert await withdrawals_in_db(runtime) == 0
    async with unit_of_work(runtime.sessionmaker) as session:
        # The limit usage was written in the same transaction, and rolled back with it.
        assert not await session.scalar(select(func.count()).select_from(LimitUsage))


async def test_a_hundred_concurrent_withdrawals_never_overdraw(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, admin: Account
) -> None:
    await unlimited(api, admin, customer)
    await credit(runtime, customer.user_id, "500", Asset.USDT, Network.tron)
    body = {"asset": "USDT", "network": "tron", "address": TRX_ADDRESS, "amount": "30"}
    preview = await api.get("/v1/withdrawals/preview", params=body, headers=customer.headers)
    total = Decimal(preview.json()["total"]["amount"])
    fits = int(Decimal(500) // total)

    answers = await asyncio.gather(
        *(api.post("/v1/withdrawals", json=body, headers=customer.headers | key())
          for _ in range(100))
    )  # fmt: skip

    statuses = [answer.status_code for answer in answers]
    assert statuses.count(201) == fits, statuses
    refused = [answer.json()["error"]["code"] for answer in answers if answer.status_code != 201]
    assert set(refused) == {"insufficient_funds"}
    usdt = await wallet(api, customer, Asset.USDT)
    assert Decimal(usdt["held"]) == fits * total
    assert Decimal(usdt["available"]) == 500 - fits * total >= 0
    assert await withdrawals_in_db(runtime) == fits
    await books_balance(runtime)


async def test_a_preview_refuses_what_the_request_would_refuse(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "10", Asset.USDT, Network.tron)
    await credit(runtime, customer.user_id, "2", Asset.BTC, Network.bitcoin)

    async def preview(**query: str) -> httpx.Response:
        return await api.get("/v1/withdrawals/preview", params=query, headers=customer.headers)

    over = await preview(asset="USDT", network="tron", address=TRX_ADDRESS, amount="10")
    limit = await preview(asset="BTC", network="bitcoin", address=BTC_ADDRESS, amount="1")

    assert over.status_code == 409, over.text
    assert over.json()["error"]["code"] == "insufficient_funds"
    assert over.json()["error"]["param"] == "amount"
    assert "Your available USDT balance is 10.000000" in over.json()["error"]["message"]
    assert limit.status_code == 403 and limit.json()["error"]["code"] == "limit_exceeded"
    async with unit_of_work(runtime.sessionmaker) as session:
        assert not await session.scalar(select(func.count()).select_from(LimitUsage))


async def test_a_preview_without_an_amount_is_the_most_that_can_be_sent(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "50", Asset.USDT, Network.tron)
    query = {"asset": "USDT", "network": "tron"}

    most = await api.get("/v1/withdrawals/preview", params=query, headers=customer.headers)

    assert most.status_code == 200, most.text
    body = most.json()
    amount, total = Decimal(body["amount"]["amount"]), Decimal(body["total"]["amount"])
    assert body["address"] is None and 0 < amount < 50 and total <= 50
    # One unit more no longer fits: it is the most, not merely something that fits.
    more = await api.get(
        "/v1/withdrawals/preview",
        params=query | {"address": TRX_ADDRESS, "amount": str(amount + Decimal("0.000001"))},
        headers=customer.headers,
    )
    assert more.status_code == 409
    sent = await withdraw(api, customer, **query, address=TRX_ADDRESS, amount=str(amount))
    assert sent.status_code == 201, sent.text
    assert await available(api, customer, Asset.USDT) == 50 - total


async def test_the_most_that_can_be_sent_is_refused_when_fees_eat_the_balance(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "0.01", Asset.USDT, Network.ethereum)

    most = await api.get(
        "/v1/withdrawals/preview",
        params={"asset": "USDT", "network": "ethereum"},
        headers=customer.headers,
    )

    assert most.status_code == 409
    assert "does not cover the fees" in most.json()["error"]["message"]
