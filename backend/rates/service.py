"""Current exchange rates: fetched from every healthy provider, aggregated, cached in Redis.

Invariants:
- every process reads one shared snapshot (Redis key `rates:snapshot`); it is re-fetched
  when older than the cache TTL, by one process at a time (a Redis lock), and the worker
  cron keeps it warm so requests rarely wait on a provider;
- a pair whose newest aggregate is older than `rates_max_age_s` is never handed out: the
  caller gets 503 `rates_unavailable`, not a stale price;
- a source is only counted while fresh: its own timestamp (when it reports one) within
  the bound, and a volatile price that has not moved for `rates_frozen_after_s` is treated
  as a feed that stopped updating.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from redis.asyncio import Redis

from backend.clock import SYSTEM, Clock, unix_ms
from backend.connectors.rates import ProviderError, RateFeeds, RateProvider, SourceQuote
from backend.errors import ServiceUnavailable
from backend.logs import get_logger
from backend.rates import breaker
from backend.rates.aggregate import aggregate
from backend.runtime import Runtime
from backend.settings import Settings
from contract.money import Asset, Money, Rounding

log = get_logger(__name__)

SNAPSHOT_KEY = "rates:snapshot"
_LOCK_KEY = "rates:refresh"
_SEEN_KEY = "rates:seen:{provider}"
# Prices that move every second; a stablecoin or a fiat rate may sit still for hours.
VOLATILE: frozenset[Asset] = frozenset({Asset.BTC, Asset.ETH, Asset.TRX})
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class RatesUnavailable(ServiceUnavailable):
    code = "rates_unavailable"
    message = "No fresh exchange rate is available right now; try again shortly."


@dataclass(frozen=True)
class PairRate:
    base: Asset
    quote: Asset
    value: Decimal
    sources: tuple[str, ...]
    as_of_ms: int  # unix time, in milliseconds, the sources were fetched

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"

    def age_ms(self, now_ms: int) -> int:
        return max(0, now_ms - self.as_of_ms)

    @property
    def as_of(self) -> datetime:
        return datetime.fromtimestamp(self.as_of_ms / 1000, UTC)


@dataclass(frozen=True)
class Snapshot:
    refreshed_at_ms: int
    pairs: dict[str, PairRate]

    def to_json(self) -> str:
        return json.dumps(
            {
                "refreshed_at_ms": self.refreshed_at_ms,
                "pairs": {
                    name: {
                        "base": rate.base,
                        "quote": rate.quote,
                        "value": format(rate.value, "f"),
                        "sources": list(rate.sources),
                        "as_of_ms": rate.as_of_ms,
                    }
                    for name, rate in self.pairs.items()
                },
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> Snapshot:
        data = json.loads(raw)
        return cls(
            refreshed_at_ms=int(data["refreshed_at_ms"]),
            pairs={
                name: PairRate(
                    Asset(entry["base"]),
                    Asset(entry["quote"]),
                    Decimal(entry["value"]),
                    tuple(entry["sources"]),
                    int(entry["as_of_ms"]),
                )
                for name, entry in data["pairs"].items()
            },
        )

    def fresh(self, max_age_s: int, now_ms: int) -> list[PairRate]:
        return [rate for rate in self.pairs.values() if rate.age_ms(now_ms) <= max_age_s * 1000]


async def _ask(
    redis: Redis, feeds: RateFeeds, settings: Settings, provider: RateProvider, clock: Clock
) -> list[SourceQuote]:
    if not await breaker.allow(redis, provider.name, settings.rates_breaker_cooldown_s, clock):
        log.info("rates.provider_skipped", provider=provider.name, reason="circuit open")
        return []
    try:
        # The per-request timeout covers each HTTP call; this bounds a provider that
        # makes several (Coinbase asks once per pair).
        async with asyncio.timeout(settings.rates_timeout_s * 2):
            quotes = await feeds.fetch(provider, settings.rates_timeout_s)
    except (ProviderError, TimeoutError) as exc:
        reason = exc.reason if isinstance(exc, ProviderError) else "timeout"
        opened = await breaker.failed(redis, provider.name, settings.rates_breaker_failures, clock)
        log.warning(
            "rates.provider_failed", provider=provider.name, reason=reason, breaker_opened=opened
        )
        return []
    await breaker.succeeded(redis, provider.name)
    return quotes


async def _still_moving(
    redis: Redis, settings: Settings, provider: str, quotes: list[SourceQuote], now_ms: int
) -> list[SourceQuote]:
    """Drop volatile prices this provider has repeated unchanged for too long."""
    key = _SEEN_KEY.format(provider=provider)
    seen: dict[str, str] = await redis.hgetall(key)  # type: ignore[misc]  # redis-py: sync-or-async union
    kept, updates = [], {}
    for quote in quotes:
        value = format(quote.value, "f")
        previous_value, _, since = seen.get(quote.pair, "").partition("|")
        if previous_value != value:
            updates[quote.pair] = f"{value}|{now_ms}"
        elif quote.base in VOLATILE and now_ms - int(since) > settings.rates_frozen_after_s * 1000:
            log.warning(
                "rates.source_frozen",
                provider=provider,
                pair=quote.pair,
                unchanged_for_s=(now_ms - int(since)) // 1000,
            )
            continue
        kept.append(quote)
    if updates:
        await redis.hset(key, mapping=updates)  # type: ignore[misc]  # redis-py: sync-or-async union
        await redis.expire(key, 7 * 86_400)
    return kept


def _timely(settings: Settings, quotes: list[SourceQuote], now_ms: int) -> list[SourceQuote]:
    """Drop quotes whose own timestamp is older than their kind's bound."""
    kept = []
    for quote in quotes:
        bound = (
            settings.rates_fx_source_max_age_s
            if quote.quote is Asset.KES
            else settings.rates_max_age_s
        )
        age_ms = None if quote.reported_at is None else now_ms - _ms(quote.reported_at)
        if age_ms is not None and age_ms > bound * 1000:
            log.warning(
                "rates.source_stale", provider=quote.provider, pair=quote.pair, age_s=age_ms // 1000
            )
            continue
        kept.append(quote)
    return kept


async def fetch_quotes(
    redis: Redis, feeds: RateFeeds, settings: Settings, clock: Clock = SYSTEM
) -> list[SourceQuote]:
    """Every fresh quote the healthy providers give now, asked concurrently."""
    sources = feeds.providers
    answers = await asyncio.gather(*(_ask(redis, feeds, settings, p, clock) for p in sources))
    now_ms = unix_ms(clock)
    fresh: list[SourceQuote] = []
    for provider, quotes in zip(sources, answers, strict=True):
        moving = await _still_moving(redis, settings, provider.name, quotes, now_ms)
        fresh.extend(_timely(settings, moving, now_ms))
    return fresh


async def _load(redis: Redis) -> Snapshot | None:
    raw = await redis.get(SNAPSHOT_KEY)
    return Snapshot.from_json(raw) if raw else None


async def refresh(
    redis: Redis, feeds: RateFeeds, settings: Settings, clock: Clock = SYSTEM
) -> Snapshot:
    """Fetch, aggregate and store a new snapshot; pairs no source could price keep their
    previous value and age until they pass the staleness bound."""
    quotes = await fetch_quotes(redis, feeds, settings, clock)
    rates, noisy = aggregate(
        quotes,
        max_spread=settings.rates_max_spread_percent / 100,
        min_crypto_sources=settings.rates_min_sources,
        min_fx_sources=settings.rates_fx_min_sources,
    )
    for outlier in noisy:
        log.warning(
            "rates.outlier_dropped",
            pair=outlier.pair,
            dropped=list(outlier.dropped),
            kept=list(outlier.sources),
            median=format(outlier.value, "f"),
        )
    now_ms = unix_ms(clock)
    previous = await _load(redis)
    pairs = dict(previous.pairs) if previous else {}
    for name, rate in rates.items():
        pairs[name] = PairRate(rate.base, rate.quote, rate.value, rate.sources, now_ms)
    missing = sorted(set(pairs) - set(rates))
    if missing:
        log.warning("rates.pairs_not_refreshed", pairs=missing)
    snapshot = Snapshot(refreshed_at_ms=now_ms, pairs=pairs)
    # Past the staleness bound the snapshot is useless; let Redis forget it.
    await redis.set(
        SNAPSHOT_KEY, snapshot.to_json(), ex=settings.rates_max_age_s + settings.rates_cache_ttl_s
    )
    return snapshot


async def refresh_once(runtime: Runtime) -> Snapshot | None:
    """Refresh now, unless another process already is (then None): one fetch at a time
    across the cluster, so a cold cache does not send every request to the providers."""
    settings = runtime.settings
    token = secrets.token_hex(8)
    lock_s = math.ceil(settings.rates_timeout_s * 2) + 2
    if not await runtime.redis.set(_LOCK_KEY, token, nx=True, ex=lock_s):
        return None
    try:
        return await refresh(runtime.redis, runtime.rates, settings, runtime.clock)
    finally:
        await runtime.redis.eval(_RELEASE, 1, _LOCK_KEY, token)  # type: ignore[misc]  # redis-py: sync-or-async union


async def _wait_for_snapshot(runtime: Runtime) -> Snapshot:
    deadline = time.monotonic() + runtime.settings.rates_timeout_s * 2 + 1
    while True:
        snapshot = await _load(runtime.redis)
        if snapshot is not None or time.monotonic() > deadline:
            return snapshot or Snapshot(refreshed_at_ms=0, pairs={})
        await asyncio.sleep(0.05)


async def current(runtime: Runtime) -> Snapshot:
    """The shared snapshot, refreshed first if it is older than the cache TTL."""
    snapshot = await _load(runtime.redis)
    if (
        snapshot is not None
        and unix_ms(runtime.clock) - snapshot.refreshed_at_ms
        < runtime.settings.rates_cache_ttl_s * 1000
    ):
        return snapshot
    refreshed = await refresh_once(runtime)
    if refreshed is not None:
        return refreshed
    # Someone else is fetching: serve what we have (its pairs are still checked against
    # the staleness bound by the caller), or on a cold start wait for their result.
    return snapshot if snapshot is not None else await _wait_for_snapshot(runtime)


async def rate(runtime: Runtime, base: Asset, quote: Asset = Asset.KES) -> PairRate:
    """The rate to price something with now; 503 `rates_unavailable` rather than stale."""
    snapshot = await current(runtime)
    found = snapshot.pairs.get(f"{base}/{quote}")
    if (
        found is None
        or found.age_ms(unix_ms(runtime.clock)) > runtime.settings.rates_max_age_s * 1000
    ):
        raise RatesUnavailable(headers={"Retry-After": str(runtime.settings.rates_cache_ttl_s)})
    return found


async def kes_value(runtime: Runtime, amount: Money, rounding: Rounding) -> Money:
    """`amount` in KES at the current rate, rounded the way the caller names (limits use
    `customer_pays`, so a KES-equivalent never understates what was moved)."""
    if amount.asset is Asset.KES:
        return amount
    found = await rate(runtime, amount.asset, Asset.KES)
    with localcontext() as ctx:
        ctx.prec = 50
        return Money.rounded(amount.amount * found.value, Asset.KES, rounding)
