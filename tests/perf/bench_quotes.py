"""Quote throughput with a warm rate cache: `quotes.create()` (rate from Redis, pricing, limit
check, INSERT), each in its own transaction, against raw INSERTs of the same quote rows.
The rate-feed stand-in serves the providers; it must not be asked during the timed runs."""

from __future__ import annotations

import json
import time
from decimal import Decimal

from backend.db import unit_of_work, utcnow
from backend.quotes import service as quotes
from backend.rates import service as rates
from backend.runtime import open_runtime
from backend.users.service import create_user
from contract.ids import new_id
from contract.quotes import QuoteRequest
from contract.users import Role
from tests.perf.harness import BenchContext
from tests.rates_feed import RatesFeed, RatesFeedServer

QUOTES = 1_000
WARM_UP = 50
REQUESTS = [
    QuoteRequest.model_validate(body)
    for body in (
        {"side": "buy", "asset": "USDT", "network": "tron", "amount": "500",
         "amount_currency": "KES"},
        {"side": "sell", "asset": "BTC", "network": "bitcoin", "amount": "0.0015",
         "amount_currency": "BTC"},
        {"side": "buy", "asset": "USDT", "network": "ethereum", "amount": "25",
         "amount_currency": "USDT"},
        {"side": "sell", "asset": "USDT", "network": "tron", "amount": "2000",
         "amount_currency": "KES"},
    )
]  # fmt: skip


async def _owner(ctx: BenchContext) -> str:
    async with unit_of_work(ctx.sessionmaker) as session:
        user = await create_user(
            session,
            email="bench-quotes@example.test",
            password="bench quotes password, long enough",
            phone="+254700000999",
            role=Role.customer,
        )
        user.email_verified_at = user.phone_verified_at = utcnow()
        return user.id


async def run(ctx: BenchContext) -> list[str]:
    server = RatesFeedServer()
    try:
        feed = RatesFeed(server.url)
        await feed.reset()
        # A cache that outlives the run: this measures quoting, not the providers.
        settings = ctx.settings.model_copy(
            update={**server.settings(), "rates_cache_ttl_s": 3600, "rates_max_age_s": 3600}
        )
        async with open_runtime(settings) as runtime:
            owner = await _owner(ctx)
            await rates.current(runtime)

            async def quote_many(count: int) -> float:
                started = time.perf_counter()
                for n in range(count):
                    async with unit_of_work(runtime.sessionmaker) as session:
                        await quotes.create(session, runtime, owner, REQUESTS[n % len(REQUESTS)])
                return time.perf_counter() - started

            await quote_many(WARM_UP)
            asked_before = sum((await feed.hits()).values())
            service_s = await quote_many(QUOTES)
            asked_during = sum((await feed.hits()).values()) - asked_before
            raw_s = await _raw_inserts(ctx, owner)
    finally:
        server.stop()

    def per_second(seconds: float) -> Decimal:
        return Decimal(QUOTES / seconds).quantize(Decimal(1))

    return [
        f"{QUOTES} quotes, one transaction each, {len(REQUESTS)} kinds (buy/sell, KES/crypto)",
        f"quotes.create():  {per_second(service_s)} quotes/s",
        f"raw INSERTs:      {per_second(raw_s)} rows/s",
        f"create() / raw:   {raw_s / service_s:.2f}  (a quote costs {service_s / raw_s:.1f}x "
        "an INSERT of its row)",
        f"rate providers asked during the timed run: {asked_during} (warm cache: 0)",
    ]


async def _raw_inserts(ctx: BenchContext, owner: str) -> float:
    """The same rows with no rate lookup, pricing, limits or ORM."""
    fees = json.dumps([{"kind": "platform", "amount": {"amount": "8.00", "asset": "KES"},
                        "description": "Qpeapay buy fee"}])  # fmt: skip
    async with ctx.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        started = time.perf_counter()
        for _ in range(QUOTES):
            async with raw.transaction():
                await raw.execute(
                    "INSERT INTO quotes (id, owner_id, flow, side, asset, network,"
                    " requested_amount, requested_currency, rate, rate_sources, rate_as_of,"
                    " amount, subtotal, fee_total, total, fees, status, created_at, expires_at)"
                    " VALUES ($1, $2, 'buy', 'buy', 'USDT', 'tron', 500, 'KES', 129.25, 2, now(),"
                    " 3.806576, 492, 8, 500, $3::jsonb, 'open', statement_timestamp(),"
                    " statement_timestamp() + interval '90 seconds')",
                    new_id("quo"),
                    owner,
                    fees,
                )
        return time.perf_counter() - started
