"""Quotes through the API and the service: priced from the stand-in's rates, held for the
configured window, owned by the caller, and consumed at most once under concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from backend.db import unit_of_work
from backend.quotes import service as quotes
from backend.quotes.models import ConsumedBy, Quote
from backend.runtime import Runtime
from contract.quotes import QuoteRequest
from tests.identity import Account, make_account, make_api_key
from tests.rates_feed import RatesFeed

BUY_500 = {"side": "buy", "asset": "USDT", "network": "tron", "amount": "500",
           "amount_currency": "KES"}  # fmt: skip


async def _quote(api: httpx.AsyncClient, who: Account, **changes: Any) -> httpx.Response:
    return await api.post("/v1/quotes", json={**BUY_500, **changes}, headers=who.headers)


async def test_a_quote_shows_every_fee_and_holds_the_rate(
    api: httpx.AsyncClient, customer: Account, runtime: Runtime, rates_feed: RatesFeed
) -> None:
    response = await _quote(api, customer)
    assert response.status_code == 201, response.text
    quote = response.json()
    assert quote["id"].startswith("quo_") and quote["status"] == "open"
    assert quote["rate"] == "128.99355000"  # USDT/USD 1.0 x the USD/KES median
    assert quote["rate_sources"] == 2
    assert quote["amount"] == {"amount": "3.814144", "asset": "USDT"}
    assert quote["subtotal"] == {"amount": "492.00", "asset": "KES"}
    assert [(f["kind"], f["amount"]["amount"]) for f in quote["fees"]] == [
        ("platform", "8.00"),
        ("mpesa", "0.00"),
    ]
    assert quote["fee"] == {"amount": "8.00", "asset": "KES"}
    assert quote["total"] == {"amount": "500.00", "asset": "KES"}
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await session.get(Quote, quote["id"])
        assert row is not None and row.owner_id == customer.user_id
        assert row.expires_at - row.created_at == timedelta(seconds=90)
    # The rate moves; the quote does not.
    await rates_feed.prices(USD_KES="140")
    again = await api.get(f"/v1/quotes/{quote['id']}", headers=customer.headers)
    assert again.json()["rate"] == quote["rate"]


async def test_a_quote_is_only_its_owners(
    api: httpx.AsyncClient, customer: Account, merchant: Account, rates_feed: RatesFeed
) -> None:
    quote = (await _quote(api, customer)).json()
    assert (await api.get(f"/v1/quotes/{quote['id']}", headers=merchant.headers)).status_code == 404
    assert (await api.get(f"/v1/quotes/{quote['id']}")).status_code == 401
    assert (await api.post("/v1/quotes", json=BUY_500)).status_code == 401


async def test_a_merchant_prices_an_invoice_from_its_own_systems_with_an_api_key(
    api: httpx.AsyncClient, merchant: Account, customer: Account, rates_feed: RatesFeed
) -> None:
    writer = {"Authorization": f"Bearer {await make_api_key(api, merchant, 'invoices:write')}"}
    reader = {"Authorization": f"Bearer {await make_api_key(api, merchant, 'invoices:read')}"}
    sell = {**BUY_500, "side": "sell"}
    created = await api.post("/v1/quotes", json=sell, headers=writer)
    assert created.status_code == 201, created.text
    quote_id = created.json()["id"]
    fetched = await api.get(f"/v1/quotes/{quote_id}", headers=reader)
    assert fetched.status_code == 200 and fetched.json()["id"] == quote_id
    # The scope is checked, and a key sees only its own merchant's quotes.
    refused = await api.post("/v1/quotes", json=sell, headers=reader)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    theirs = (await _quote(api, customer)).json()["id"]
    assert (await api.get(f"/v1/quotes/{theirs}", headers=reader)).status_code == 404


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"asset": "USDT", "network": "bitcoin"}, None),
        ({"amount_currency": "BTC"}, None),
        ({"amount": 500.5}, "amount"),
        ({"amount": "-1"}, None),
        ({"amount": "1.0000001", "amount_currency": "USDT"}, None),
        ({"side": "hold"}, "side"),
        ({"fee": "0"}, "fee"),
    ],
)
async def test_bad_payloads_are_422(
    api: httpx.AsyncClient, customer: Account, changes: dict[str, Any], param: str | None
) -> None:
    response = await _quote(api, customer, **changes)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    if param is not None:
        assert response.json()["error"]["param"] == param


async def test_business_refusals_are_4xx_with_a_stable_code(
    api: httpx.AsyncClient, customer: Account, rates_feed: RatesFeed
) -> None:
    cents = await _quote(api, customer, amount="500.50")
    assert (cents.status_code, cents.json()["error"]["code"]) == (400, "amount_not_whole_shillings")
    tiny = await _quote(api, customer, side="sell", amount="0.01", amount_currency="USDT")
    assert (tiny.status_code, tiny.json()["error"]["code"]) == (400, "amount_too_small")


async def test_no_fresh_rate_means_no_quote(
    api: httpx.AsyncClient, customer: Account, rates_feed: RatesFeed
) -> None:
    for name in ("coingecko", "binance", "kraken", "coinbase", "coinbase_fx", "open_er_api"):
        await rates_feed.provider(name, mode="error")
    response = await _quote(api, customer)
    assert (response.status_code, response.json()["error"]["code"]) == (503, "rates_unavailable")


async def test_an_unverified_user_is_refused_by_the_limits(
    api: httpx.AsyncClient, runtime: Runtime, rates_feed: RatesFeed
) -> None:
    newcomer = await make_account(api, runtime, verified=False)
    response = await _quote(api, newcomer)
    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["code"], error["action"], error["limit"]) == (
        "limit_exceeded", "buy", "per_transaction"
    )  # fmt: skip
    assert error["remaining"] == {"amount": "0.00", "asset": "KES"}


async def test_a_quote_over_the_per_transaction_limit_names_it(
    api: httpx.AsyncClient, customer: Account, rates_feed: RatesFeed
) -> None:
    response = await _quote(api, customer, amount="80000")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["limit"] == "per_transaction"
    assert error["remaining"] == {"amount": "70000.00", "asset": "KES"}
    assert "per-transaction buy limit of KES 70,000.00" in error["message"]


async def test_the_idempotency_key_replays_the_same_quote(
    api: httpx.AsyncClient, customer: Account, rates_feed: RatesFeed
) -> None:
    headers = {**customer.headers, "Idempotency-Key": "quote-1"}
    first = await api.post("/v1/quotes", json=BUY_500, headers=headers)
    second = await api.post("/v1/quotes", json=BUY_500, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"


async def _create(runtime: Runtime, owner: str, lock_s: int | None = None) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await quotes.create(
            session, runtime, owner, QuoteRequest.model_validate(BUY_500), lock_s=lock_s
        )
        return row.id


async def _age(runtime: Runtime, quote_id: str, by: timedelta) -> None:
    """As if `by` had passed on the database clock, which expiry is read from (every process
    agrees on it), since the quote was made: its times move back instead."""
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(
            update(Quote)
            .where(Quote.id == quote_id)
            .values(created_at=Quote.created_at - by, expires_at=Quote.expires_at - by)
        )


async def _consume(
    runtime: Runtime, quote_id: str, owner: str, purpose: ConsumedBy = ConsumedBy.buy_order,
    reference: str | None = None,
) -> Quote:  # fmt: skip
    async with unit_of_work(runtime.sessionmaker) as session:
        return await quotes.consume(session, quote_id, owner, purpose, reference)


async def test_a_quote_is_consumed_once(
    runtime: Runtime, customer: Account, rates_feed: RatesFeed
) -> None:
    quote_id = await _create(runtime, customer.user_id)
    used = await _consume(runtime, quote_id, customer.user_id, reference="buy_1")
    assert used.status == "consumed" and used.consumed_by == "buy_order"
    # The same consumer retrying is told it already has it; anyone else is refused.
    again = await _consume(runtime, quote_id, customer.user_id, reference="buy_1")
    assert again.consumed_at == used.consumed_at
    with pytest.raises(quotes.QuoteConsumed):
        await _consume(runtime, quote_id, customer.user_id, reference="buy_2")
    with pytest.raises(quotes.QuoteConsumed):
        await _consume(runtime, quote_id, customer.user_id)


async def test_concurrent_consumers_cannot_both_win(
    runtime: Runtime, customer: Account, rates_feed: RatesFeed
) -> None:
    quote_id = await _create(runtime, customer.user_id)
    outcomes = await asyncio.gather(
        *(_consume(runtime, quote_id, customer.user_id, reference=f"buy_{n}") for n in range(4)),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if isinstance(o, Quote)]
    assert len(winners) == 1
    assert all(isinstance(o, quotes.QuoteConsumed) for o in outcomes if o not in winners)


async def test_expired_foreign_and_mismatched_quotes_are_refused(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account,
    rates_feed: RatesFeed,
) -> None:  # fmt: skip
    quote_id = await _create(runtime, customer.user_id)
    with pytest.raises(quotes.QuoteNotFound):
        await _consume(runtime, quote_id, merchant.user_id)
    with pytest.raises(quotes.QuoteMismatch, match="needs a sell quote"):
        await _consume(runtime, quote_id, customer.user_id, ConsumedBy.sell_order)
    with pytest.raises(quotes.QuoteMismatch):
        await _consume(runtime, quote_id, customer.user_id, ConsumedBy.invoice)

    short = await _create(runtime, customer.user_id, lock_s=60)
    await _age(runtime, short, timedelta(seconds=50))
    assert (await api.get(f"/v1/quotes/{short}", headers=customer.headers)).json()["status"] == (
        "open"
    )
    await _age(runtime, short, timedelta(seconds=10))
    with pytest.raises(quotes.QuoteExpired) as caught:
        await _consume(runtime, short, customer.user_id)
    assert (caught.value.status, caught.value.code) == (409, "quote_expired")
    shown = await api.get(f"/v1/quotes/{short}", headers=customer.headers)
    assert shown.json()["status"] == "expired"
    async with unit_of_work(runtime.sessionmaker) as session:
        status = await session.scalar(select(Quote.status).where(Quote.id == short))
    assert status == "open"  # expiry is read from the clock, never swept


async def test_an_invoice_quote_is_made_by_the_service_with_its_own_window(
    runtime: Runtime, merchant: Account, rates_feed: RatesFeed
) -> None:
    request = QuoteRequest(side="sell", asset="USDT", network="tron", amount=Decimal(1500),
                           amount_currency="KES")  # type: ignore[arg-type]  # fmt: skip
    async with unit_of_work(runtime.sessionmaker) as session:
        row = await quotes.create(
            session, runtime, merchant.user_id, request, flow=quotes.QuoteFlow.invoice,
            lock_s=900,
        )  # fmt: skip
        assert row.expires_at - row.created_at == timedelta(minutes=15)
        assert (row.flow, row.subtotal, row.fee_total, row.total) == (
            "invoice", Decimal("1500.00"), Decimal("15.00"), Decimal("1485.00")
        )  # fmt: skip
        consumed = await quotes.consume(session, row.id, merchant.user_id, ConsumedBy.invoice)
        assert consumed.status == "consumed"
