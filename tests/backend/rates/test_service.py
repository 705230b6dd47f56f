"""The rates service against the stand-in over real HTTP: median of the healthy sources,
fallback when one fails, a breaker shared through Redis, the cache TTL, and the staleness
bound that turns an old rate into 503 rather than a quote."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from backend.clock import SettableClock, unix_ms
from backend.rates import breaker, service
from backend.rates.breaker import BreakerState
from backend.runtime import Runtime
from contract.money import Asset, Money, Rounding
from tests.backend.rates.conftest import Tune
from tests.rates_feed import RatesFeed


async def test_each_pair_is_the_median_of_its_sources(
    runtime: Runtime, rates_feed: RatesFeed
) -> None:
    snapshot = await service.current(runtime)
    btc = snapshot.pairs["BTC/USD"]
    # coingecko 0 bp, binance 0 (USDT-quoted), kraken -3 bp, coinbase +1 bp.
    assert btc.value == Decimal("67000")
    assert btc.sources == ("binance", "coinbase", "coingecko", "kraken")
    assert snapshot.pairs["USDT/USD"].sources == ("coinbase", "coingecko", "kraken")
    fx = snapshot.pairs["USD/KES"]
    assert fx.value == Decimal("128.99355")  # median of 128.9484 and 129.0387
    assert snapshot.pairs["BTC/KES"].value == (btc.value * fx.value).quantize(Decimal("1e-8"))
    assert set(snapshot.pairs) == {
        f"{a}/{q}" for a in ("BTC", "USDT", "ETH", "TRX") for q in ("USD", "KES")
    } | {"USD/KES"}


async def test_an_outlier_is_dropped_and_logged(runtime: Runtime, rates_feed: RatesFeed) -> None:
    await rates_feed.provider("coinbase", prices={"BTC/USD": "80000"})
    with capture_logs() as logs:
        btc = (await service.current(runtime)).pairs["BTC/USD"]
    assert "coinbase" not in btc.sources and len(btc.sources) == 3
    assert btc.value == Decimal("67000")
    [dropped] = [e for e in logs if e["event"] == "rates.outlier_dropped"]
    assert dropped["pair"] == "BTC/USD" and dropped["dropped"] == ["coinbase"]


async def test_a_failing_provider_is_skipped_and_the_others_answer(
    runtime: Runtime, rates_feed: RatesFeed
) -> None:
    await rates_feed.provider("coingecko", mode="error", status=500)
    await rates_feed.provider("kraken", mode="malformed")
    rate = await service.rate(runtime, Asset.BTC)
    assert rate.sources == ("binance", "coinbase")


async def test_a_hanging_provider_costs_one_timeout_not_the_request(
    tune: Tune, rates_feed: RatesFeed
) -> None:
    runtime = tune(rates_timeout_s=0.3)
    await rates_feed.provider("kraken", mode="timeout")
    started = time.monotonic()
    snapshot = await service.current(runtime)
    assert time.monotonic() - started < 1.5
    assert "kraken" not in snapshot.pairs["BTC/USD"].sources
    assert len(snapshot.pairs["BTC/USD"].sources) == 3


async def test_the_breaker_opens_is_shared_and_probes_once_after_the_cooldown(
    tune: Tune, rates_feed: RatesFeed, redis: Redis, clock: SettableClock
) -> None:
    runtime = tune(rates_breaker_failures=2, rates_breaker_cooldown_s=1)

    async def refresh() -> None:
        await service.refresh(runtime.redis, runtime.rates, runtime.settings, clock)

    await rates_feed.provider("kraken", mode="error")
    await refresh()
    assert await breaker.state(redis, "kraken", 1, clock) == (BreakerState.closed, 1)
    await refresh()
    assert (await breaker.state(redis, "kraken", 1, clock))[0] is BreakerState.open
    asked = (await rates_feed.hits())["kraken"]
    clock.advance(0.9)
    await refresh()  # still open within the cooldown: not asked at all
    assert (await rates_feed.hits())["kraken"] == asked

    await rates_feed.provider("kraken", mode="ok")
    clock.advance(0.2)
    # Half-open: of two processes refreshing at once, only one probes.
    assert [await breaker.allow(redis, "kraken", 1, clock) for _ in range(2)] == [True, False]
    await redis.delete("rates:breaker:kraken:probe")
    await refresh()
    assert await breaker.state(redis, "kraken", 1, clock) == (BreakerState.closed, 0)
    assert (await rates_feed.hits())["kraken"] == asked + 1
    assert "kraken" in (await service.current(runtime)).pairs["BTC/USD"].sources


async def test_a_failed_probe_reopens_the_breaker(
    tune: Tune, rates_feed: RatesFeed, redis: Redis, clock: SettableClock
) -> None:
    runtime = tune(rates_breaker_failures=1, rates_breaker_cooldown_s=1)
    kraken = runtime.rates.only("kraken")
    await rates_feed.provider("kraken", mode="error")
    await service.fetch_quotes(redis, kraken, runtime.settings, clock)
    clock.advance(1.1)
    assert (await breaker.state(redis, "kraken", 1, clock))[0] is BreakerState.half_open
    await service.fetch_quotes(redis, kraken, runtime.settings, clock)
    assert (await breaker.state(redis, "kraken", 1, clock))[0] is BreakerState.open


async def test_the_cache_serves_until_its_ttl_then_refetches(
    tune: Tune, rates_feed: RatesFeed, clock: SettableClock
) -> None:
    runtime = tune(rates_cache_ttl_s=1)
    await service.current(runtime)
    before = await rates_feed.hits()
    await rates_feed.prices(BTC_USD="70000")
    for _ in range(5):
        await service.rate(runtime, Asset.USDT)
        clock.advance(0.19)  # 0.95 s in all: still within the TTL
    assert await rates_feed.hits() == before
    assert (await service.rate(runtime, Asset.BTC, Asset.USD)).value == Decimal("67000")
    clock.advance(0.1)
    assert (await service.rate(runtime, Asset.BTC, Asset.USD)).value == Decimal("70000")
    assert (await rates_feed.hits())["coingecko"] == before["coingecko"] + 1


async def test_a_cold_cache_is_fetched_once_however_many_ask(
    runtime: Runtime, rates_feed: RatesFeed
) -> None:
    before = await rates_feed.hits()
    snapshots = await asyncio.gather(*(service.current(runtime) for _ in range(8)))
    assert all("BTC/KES" in s.pairs for s in snapshots)
    assert (await rates_feed.hits())["coingecko"] == before["coingecko"] + 1


async def test_a_rate_past_the_staleness_bound_is_never_used(
    tune: Tune, rates_feed: RatesFeed, clock: SettableClock
) -> None:
    runtime = tune(rates_cache_ttl_s=1, rates_max_age_s=2)
    await service.rate(runtime, Asset.BTC)
    for name in ("coingecko", "binance", "kraken", "coinbase", "coinbase_fx", "open_er_api"):
        await rates_feed.provider(name, mode="error")
    clock.advance(1.1)
    # Within the bound, the last good rate still serves while the providers are down.
    assert (await service.rate(runtime, Asset.BTC)).age_ms(unix_ms(clock)) >= 1000
    clock.advance(0.85)  # 1.95 s old
    assert (await service.rate(runtime, Asset.BTC)).age_ms(unix_ms(clock)) <= 2000
    clock.advance(0.1)  # 2.05 s old
    with pytest.raises(service.RatesUnavailable) as caught:
        await service.rate(runtime, Asset.BTC)
    assert caught.value.status == 503 and caught.value.code == "rates_unavailable"
    assert caught.value.headers == {"Retry-After": "1"}


async def test_too_few_agreeing_sources_is_unavailable_not_a_guess(
    runtime: Runtime, rates_feed: RatesFeed
) -> None:
    for name in ("coingecko", "binance", "coinbase"):
        await rates_feed.provider(name, mode="error")
    # Kraken alone is one source, below RATES_MIN_SOURCES: no BTC rate at all.
    with pytest.raises(service.RatesUnavailable):
        await service.rate(runtime, Asset.BTC)


async def test_a_source_reporting_an_old_timestamp_is_dropped(
    runtime: Runtime, rates_feed: RatesFeed
) -> None:
    await rates_feed.provider("coingecko", mode="stale", stale_by_s=600)
    await rates_feed.provider("open_er_api", mode="stale", stale_by_s=3 * 86_400)
    with capture_logs() as logs:
        snapshot = await service.current(runtime)
    assert "coingecko" not in snapshot.pairs["BTC/USD"].sources
    assert snapshot.pairs["USD/KES"].sources == ("coinbase_fx",)
    stale = {(e["provider"], e["pair"]) for e in logs if e["event"] == "rates.source_stale"}
    assert ("coingecko", "BTC/USD") in stale and ("open_er_api", "USD/KES") in stale


async def test_a_price_that_stops_moving_counts_as_stale(
    tune: Tune, rates_feed: RatesFeed, clock: SettableClock
) -> None:
    runtime = tune(rates_frozen_after_s=1)

    async def refresh() -> service.Snapshot:
        return await service.refresh(runtime.redis, runtime.rates, runtime.settings, clock)

    await refresh()
    await rates_feed.prices(BTC_USD="67010")
    await rates_feed.provider("kraken", mode="stale")  # keeps answering this 67,010
    clock.advance(1.05)
    await refresh()  # kraken's frozen value is seen for the first time
    # The market moves on and the live sources follow it; kraken does not.
    clock.advance(0.9)
    await rates_feed.prices(BTC_USD="67020")
    assert "kraken" in (await refresh()).pairs["BTC/USD"].sources  # unchanged for 0.9 s
    clock.advance(0.15)
    await rates_feed.prices(BTC_USD="67030")
    snapshot = await refresh()  # unchanged for 1.05 s
    assert "kraken" not in snapshot.pairs["BTC/USD"].sources
    assert len(snapshot.pairs["BTC/USD"].sources) == 3
    # A stablecoin may legitimately sit still: kraken's USDT still counts.
    assert "kraken" in snapshot.pairs["USDT/USD"].sources


async def test_kes_value_rounds_as_named(runtime: Runtime, rates_feed: RatesFeed) -> None:
    rate = (await service.rate(runtime, Asset.USDT)).value
    one_micro = Money.of("0.000001", Asset.USDT)
    up = await service.kes_value(runtime, one_micro, Rounding.customer_pays)
    down = await service.kes_value(runtime, one_micro, Rounding.we_pay)
    assert rate > 100
    assert (up.amount, down.amount) == (Decimal("0.01"), Decimal("0.00"))
