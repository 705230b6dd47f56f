"""Typed lifespan state: the long-lived clients one process shares, opened and closed in one
place so the API and the worker start the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend import queue
from backend.clock import Clock, SystemClock
from backend.db import create_engine, create_sessionmaker
from backend.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    queue: ArqRedis
    http: httpx.AsyncClient
    # Domain-owned long-lived objects (connectors, rate providers) keyed by their owner.
    extras: dict[str, Any] = field(default_factory=dict)
    # Where code whose behaviour depends on elapsed time reads it (a test sets its own).
    clock: Clock = field(default_factory=SystemClock)


# Opens something a domain keeps for the life of the process and stores it in
# runtime.extras; closed on shutdown, before the shared clients it may still use.
LifespanHook = Callable[[Runtime], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def open_runtime(
    settings: Settings, hooks: Sequence[LifespanHook] = ()
) -> AsyncIterator[Runtime]:
    """Open the process's clients, then each hook; close everything in reverse order."""
    async with AsyncExitStack() as stack:
        engine = create_engine(
            settings.database_url,
            settings.database_pool_size,
            pool_timeout_s=settings.database_pool_timeout_s,
        )
        stack.push_async_callback(engine.dispose)
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        stack.push_async_callback(redis.aclose)
        arq = await queue.connect(settings.redis_url)
        stack.push_async_callback(arq.aclose)
        http = await stack.enter_async_context(
            httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        )
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            redis=redis,
            queue=arq,
            http=http,
        )
        for hook in hooks:
            await stack.enter_async_context(hook(runtime))
        yield runtime
