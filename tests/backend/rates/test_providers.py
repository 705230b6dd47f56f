"""Each provider client against the stand-in's copy of its API: the shapes parse to exact
Decimals, and every way a provider can fail becomes a ProviderError with a short reason."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from backend.connectors.rates import (
    Binance,
    Coinbase,
    CoinbaseFx,
    CoinGecko,
    Kraken,
    OpenExchangeRates,
    ProviderError,
    RateProvider,
    providers,
)
from backend.settings import Settings
from contract.money import Asset
from tests.rates_feed import RatesFeed


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _by_name(settings: Settings) -> dict[str, RateProvider]:
    return {provider.name: provider for provider in providers(settings)}


async def test_every_provider_reads_its_real_response_shape(
    settings: Settings, http: httpx.AsyncClient, rates_feed: RatesFeed
) -> None:
    await rates_feed.provider("kraken", offset_bps=0)
    found = {}
    for provider in providers(settings):
        for quote in await provider.fetch(http, 2.0):
            assert type(quote.value) is Decimal
            found[(provider.name, quote.pair)] = quote

    assert found[("coingecko", "BTC/USD")].value == Decimal("67000")
    assert found[("coingecko", "TRX/USD")].value == Decimal("0.12")
    # Kraken answers XXBTZUSD for XBTUSD; its last trade is c[0].
    assert found[("kraken", "BTC/USD")].value == Decimal("67000")
    assert found[("kraken", "USDT/USD")].value == Decimal(1)
    # Binance prices in USDT; the stand-in's USDT sits 2 bps off like its BTC, so 67000.
    assert found[("binance", "BTC/USDT")].value == Decimal("67000")
    assert ("binance", "USDT/USD") not in found
    assert found[("coinbase", "ETH/USD")].value == Decimal("3500.35")  # +1 bp
    assert ("coinbase", "TRX/USD") not in found  # Coinbase lists no TRX
    assert found[("coinbase_fx", "USD/KES")].value == Decimal("128.9484")  # -4 bp
    assert found[("open_er_api", "USD/KES")].value == Decimal("129.0387")  # +3 bp


async def test_timestamps_come_from_the_providers_that_report_them(
    settings: Settings, http: httpx.AsyncClient, rates_feed: RatesFeed
) -> None:
    by_name = _by_name(settings)
    gecko = await by_name["coingecko"].fetch(http, 2.0)
    reported = gecko[0].reported_at
    assert reported is not None and abs(time.time() - 20 - reported.timestamp()) < 5
    daily = (await by_name["open_er_api"].fetch(http, 2.0))[0].reported_at
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=1, microsecond=0)
    assert daily == midnight
    assert all(q.reported_at is None for q in await by_name["kraken"].fetch(http, 2.0))


@pytest.mark.parametrize(
    ("switches", "reason"),
    [
        ({"mode": "error", "status": 503}, "HTTP 503"),
        ({"mode": "error", "status": 429}, "HTTP 429"),
        ({"mode": "malformed"}, "body is not JSON"),
        ({"mode": "timeout"}, "timeout"),
    ],
)
@pytest.mark.parametrize("name", ["coingecko", "binance", "kraken", "coinbase_fx", "open_er_api"])
async def test_a_failing_provider_raises_a_short_reason(
    settings: Settings,
    http: httpx.AsyncClient,
    rates_feed: RatesFeed,
    name: str,
    switches: dict[str, object],
    reason: str,
) -> None:
    await rates_feed.provider(name, **switches)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        await _by_name(settings)[name].fetch(http, 0.3)
    assert caught.value.reason == reason
    assert caught.value.provider == name
    assert time.monotonic() - started < 2


async def test_coinbase_keeps_the_pairs_that_answered() -> None:
    # One request per pair: a single bad pair must not throw away the good ones, while a
    # provider that answers nothing still fails as a whole.
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/prices/BTC-USD/spot":
            return httpx.Response(
                200, json={"data": {"base": "BTC", "currency": "USD", "amount": "67001.5"}}
            )
        return httpx.Response(500, json={"errors": [{"id": "internal_server_error"}]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        [quote] = await Coinbase("http://c").fetch(http, 1.0)
    assert (quote.pair, quote.value) == ("BTC/USD", Decimal("67001.5"))

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(502))
    ) as http:
        with pytest.raises(ProviderError, match="HTTP 502"):
            await Coinbase("http://c").fetch(http, 1.0)


async def test_in_band_errors_and_wrong_shapes_are_refused() -> None:
    def serve(body: object, status: int = 200) -> httpx.AsyncClient:
        transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
        return httpx.AsyncClient(transport=transport)

    cases: list[tuple[RateProvider, object, str]] = [
        (Kraken("http://k"), {"error": ["EService:Unavailable"], "result": {}},
         "error: EService:Unavailable"),
        (Kraken("http://k"), {"error": [], "result": {"XXBTZUSD": {"c": []}}},
         "XXBTZUSD has no last trade"),
        (CoinGecko("http://g"), {"bitcoin": {"usd": "-1"}}, "bitcoin.usd is not positive"),
        (CoinGecko("http://g"), {"dogecoin": {"usd": 1}}, "no known coin in the answer"),
        (Binance("http://b"), {"code": -1121, "msg": "Invalid symbol."}, "body is not a list"),
        (Coinbase("http://c"), {"data": {"base": "DOGE", "currency": "USD", "amount": "1"}},
         "answered for the wrong pair on BTC-USD"),
        (CoinbaseFx("http://c"), {"data": {"currency": "USD", "rates": {}}}, "no KES rate"),
        (OpenExchangeRates("http://o"), {"result": "error", "error-type": "quota-reached"},
         "result is not success (quota-reached)"),
    ]  # fmt: skip
    for provider, body, reason in cases:
        async with serve(body) as http:
            with pytest.raises(ProviderError) as caught:
                await provider.fetch(http, 1.0)
        assert caught.value.reason == reason, provider.name


async def test_json_numbers_never_pass_through_float() -> None:
    # 0.1 + 0.2 style digits survive exactly because the body is parsed to Decimal.
    raw = b'{"tron": {"usd": 0.123456789012345678, "last_updated_at": 1700000000}}'
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=raw))
    async with httpx.AsyncClient(transport=transport) as http:
        [quote] = await CoinGecko("http://g").fetch(http, 1.0)
    assert quote.base is Asset.TRX
    assert quote.value == Decimal("0.123456789012345678")
