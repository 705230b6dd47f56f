"""The outbox relay: hands committed events to per-event handlers and Redis pub/sub.

Invariants: one relay works at a time (a PostgreSQL advisory lock), events go out in id
order, and an event is marked published only in the transaction that published it, so
if Redis is down nothing is marked and the next tick sends it. Delivery is at least
once: a crash between PUBLISH and COMMIT sends a batch again, which subscribers drop by
id and handlers must shrug off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend import queue
from backend.db import unit_of_work
from backend.events.models import Event
from backend.events.service import LOCK_CLASS, StreamEvent, streams_of
from backend.logs import get_logger
from backend.runtime import Runtime

log = get_logger(__name__)

# A consumer of every event, run inside the relay's transaction before the event is marked
# published (e.g. "create this event's webhook deliveries"). It may run more than once for
# the same event, so it must be idempotent by `event.id`. If it raises, the batch rolls
# back and is retried on the next tick; nothing later is published until it succeeds.
EventHandler = Callable[[AsyncSession, Event], Awaitable[None]]

RELAY_LOCK = (LOCK_CLASS + 1, 0)
BATCH = 500
INTERVAL_S = 0.2
PUBLISH_TIMEOUT_S = 5.0
# What a Redis outage looks like from here; the relay waits it out.
REDIS_DOWN = (RedisError, OSError, TimeoutError)


async def _publish(redis: Redis, rows: Sequence[Event]) -> None:
    async with asyncio.timeout(PUBLISH_TIMEOUT_S), redis.pipeline(transaction=False) as pipe:
        for row in rows:
            message = StreamEvent.of(row).message()
            for stream in streams_of(row.subject_id, row.owner_id):
                pipe.publish(stream.channel, message)
        await pipe.execute()


async def relay_once(
    runtime: Runtime, handlers: Sequence[EventHandler] = (), batch: int = BATCH
) -> int:
    """Publish up to `batch` unpublished events; returns how many went out.

    Returns 0 when another relay holds the lock. Raises one of REDIS_DOWN when Redis
    cannot take the batch, leaving every event of it unpublished.
    """
    async with unit_of_work(runtime.sessionmaker) as session:
        queue.bind(session, runtime.queue)
        if not await session.scalar(select(func.pg_try_advisory_xact_lock(*RELAY_LOCK))):
            return 0
        rows = (
            await session.scalars(
                select(Event).where(Event.published_at.is_(None)).order_by(Event.id).limit(batch)
            )
        ).all()
        if not rows:
            return 0
        for row in rows:
            for handler in handlers:
                await handler(session, row)
        # Publish before marking: a failure here rolls the marks back; a crash after it
        # publishes again, which readers deduplicate by id.
        await _publish(runtime.redis, rows)
        await session.execute(
            update(Event)
            .where(Event.id.in_([row.id for row in rows]))
            .values(published_at=func.now())
        )
        return len(rows)


async def run(
    runtime: Runtime, handlers: Sequence[EventHandler] = (), interval_s: float = INTERVAL_S
) -> None:
    """Relay until cancelled: drain while there is a backlog, else tick every `interval_s`.

    Never gives up: a Redis outage or any other failure is logged once per streak, not
    once per tick, and retried on the next tick.
    """
    trouble: tuple[str, str] | None = None  # what failed last, so a streak logs once
    while True:
        published = 0
        try:
            published = await relay_once(runtime, handlers)
        except REDIS_DOWN as exc:
            if trouble != ("redis_down", type(exc).__name__):
                trouble = ("redis_down", type(exc).__name__)
                log.warning("events.relay_redis_down", error=trouble[1])
        except Exception as exc:
            if trouble != ("failed", type(exc).__name__):
                trouble = ("failed", type(exc).__name__)
                log.exception("events.relay_failed")
        else:
            if trouble is not None:
                log.info("events.relay_recovered", after=trouble[0])
                trouble = None
        if published < BATCH:
            await asyncio.sleep(interval_s)


@asynccontextmanager
async def running(
    runtime: Runtime, handlers: Sequence[EventHandler] = (), interval_s: float = INTERVAL_S
) -> AsyncIterator[asyncio.Task[None]]:
    """Run the relay in the background for the life of the block."""
    task = asyncio.create_task(run(runtime, handlers, interval_s), name="events.relay")
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
