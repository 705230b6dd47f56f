"""GET /v1/rates through the API: public, KES pairs first, sources and age per pair, and
503 `rates_unavailable` once nothing is fresh."""

from __future__ import annotations

from decimal import Decimal

import httpx

from tests.rates_feed import RatesFeed


async def test_rates_are_public_and_list_every_pair(
    api: httpx.AsyncClient, rates_feed: RatesFeed
) -> None:
    response = await api.get("/v1/rates")
    assert response.status_code == 200, response.text
    body = response.json()
    pairs = [rate["pair"] for rate in body["data"]]
    assert pairs == [
        "BTC/KES", "USDT/KES", "ETH/KES", "TRX/KES", "USD/KES",
        "BTC/USD", "USDT/USD", "ETH/USD", "TRX/USD",
    ]  # fmt: skip
    btc = body["data"][0]
    assert btc["base"] == "BTC" and btc["quote"] == "KES"
    assert isinstance(btc["value"], str) and Decimal(btc["value"]) > 8_000_000
    assert btc["sources"] == 2  # the weaker leg: USD/KES has two sources
    assert body["data"][5]["sources"] == 4
    assert 0 <= btc["age_seconds"] <= 1
    assert body["max_age_seconds"] == 300


async def test_no_fresh_rate_answers_503_with_retry_after(
    api: httpx.AsyncClient, rates_feed: RatesFeed
) -> None:
    for name in ("coingecko", "binance", "kraken", "coinbase", "coinbase_fx", "open_er_api"):
        await rates_feed.provider(name, mode="error")
    response = await api.get("/v1/rates")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "rates_unavailable"
    assert response.headers["retry-after"] == "30"
