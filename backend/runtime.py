"""Typed lifespan state: the long-lived objects one process shares, built in dependency
order by one function and closed in reverse, so the API and the worker start the same way.

Invariant: every field is set once, when `open_runtime` builds the Runtime; nothing is
registered into it later, so no start-up step can run before what it needs exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend import queue
from backend.auth.ratelimit import Limiter
from backend.chains.readiness import Probe, watcher_probes
from backend.clock import Clock, SystemClock
from backend.connectors.rates import RateFeeds, open_feeds
from backend.connectors.registry import ChainConnectors, open_chain_connectors
from backend.db import create_engine, create_sessionmaker
from backend.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    queue: ArqRedis
    # One connector per network this deployment runs (Ethereum's only with USDT configured).
    chains: ChainConnectors
    # The exchange-rate providers and the HTTP pool they share.
    rates: RateFeeds
    limiter: Limiter
    # What /readyz asks beyond PostgreSQL, Redis and the worker heartbeat, by check name.
    readiness: Mapping[str, Probe] = field(default_factory=dict)
    # Where code whose behaviour depends on elapsed time reads it (a test sets its own).
    clock: Clock = field(default_factory=SystemClock)


def _probes(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    chains: ChainConnectors,
) -> dict[str, Probe]:
    probes: dict[str, Probe] = {}
    if chains.ethereum is not None:
        probes["ethereum"] = chains.ethereum.ready
    probes.update(watcher_probes(sessionmaker, settings))
    return probes


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Open the process's clients, each after what it depends on; close them in reverse."""
    async with AsyncExitStack() as stack:
        engine = create_engine(
            settings.database_url,
            settings.database_pool_size,
            pool_timeout_s=settings.database_pool_timeout_s,
        )
        stack.push_async_callback(engine.dispose)
        sessionmaker = create_sessionmaker(engine)
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        stack.push_async_callback(redis.aclose)
        arq = await queue.connect(settings.redis_url)
        stack.push_async_callback(arq.aclose)
        chains = await stack.enter_async_context(open_chain_connectors(settings))
        rates = await stack.enter_async_context(open_feeds(settings))
        yield Runtime(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            redis=redis,
            queue=arq,
            chains=chains,
            rates=rates,
            limiter=Limiter(settings.redis_url),
            readiness=_probes(settings, sessionmaker, chains),
        )
