"""Server-sent events for one stream: replay from the outbox after `Last-Event-ID`, then
follow live.

Invariants: ids go out strictly increasing, never twice; nothing committed is skipped.
The live channel is subscribed to *before* the outbox is read, so an event is either in
the replay or arrives on the channel. Without Redis the stream polls the outbox (a POS
screen still turns green) and keeps trying to resubscribe. No DB transaction stays open
while waiting: every read is a short session of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request

from backend.events import service
from backend.events.relay import REDIS_DOWN
from backend.events.service import Stream, StreamEvent
from backend.logs import get_logger
from backend.runtime import Runtime

log = get_logger(__name__)

PING_S = 15.0  # keeps proxies and phones from dropping an idle stream
POLL_S = 1.0  # how often to read the outbox while Redis is unreachable
RESUBSCRIBE_S = 5.0  # how often to try Redis again meanwhile
# Even when live, re-read the outbox now and then: it covers a relay that is down (the
# worker restarting) and a pub/sub connection that silently reconnected and missed some.
RECHECK_S = 10.0
SUBSCRIBE_TIMEOUT_S = 2.0


def last_event_id(request: Request) -> int | None:
    """The client's cursor: the `Last-Event-ID` header a reconnecting EventSource sends,
    or a `last_event_id` query parameter for the first connection of a page that knows it."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


async def _close(pubsub: PubSub) -> None:
    with suppress(*REDIS_DOWN):
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


async def _subscribe(redis: Redis, stream: Stream) -> PubSub | None:
    """A live subscription to `stream`, confirmed by Redis; None if Redis is unreachable."""
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe(stream.channel)
        # Wait for the confirmation: only then is anything published later sure to reach us.
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
            while True:
                message = await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_S)
                if message is not None and message["type"] == "subscribe":
                    return pubsub
    except REDIS_DOWN as exc:
        log.debug("sse.redis_unavailable", channel=stream.channel, error=type(exc).__name__)
        await _close(pubsub)
        return None


async def _read(runtime: Runtime, stream: Stream, after: int) -> list[StreamEvent]:
    """Every committed event of `stream` after `after`, in pages, each a short session."""
    found: list[StreamEvent] = []
    while True:
        async with runtime.sessionmaker() as session:
            page = await service.read(session, stream, after)
        found.extend(page)
        if len(page) < service.PAGE:
            return found
        after = page[-1].seq


async def follow(
    runtime: Runtime,
    stream: Stream,
    after: int | None = None,
    *,
    poll_s: float = POLL_S,
    resubscribe_s: float = RESUBSCRIBE_S,
    recheck_s: float = RECHECK_S,
) -> AsyncGenerator[StreamEvent, None]:
    """Events of `stream` with id > `after` (None: from now on), in id order, forever."""
    loop = asyncio.get_running_loop()
    async with runtime.sessionmaker() as session:
        newest = await service.latest(session, stream)
    # A cursor from the future (a client of a database since restored) would silence the
    # stream until ids caught up with it; nothing of this stream lies beyond `newest`.
    cursor = newest if after is None else min(after, newest)
    while True:
        pubsub = await _subscribe(runtime.redis, stream)
        try:
            # Subscribed (or not) first, then read the outbox: what the channel missed is here.
            batch = await _read(runtime, stream, cursor)
            # Live: when to re-read the outbox anyway. Polling: when to try Redis again.
            deadline = loop.time() + (resubscribe_s if pubsub is None else recheck_s)
            while True:
                for item in batch:
                    if item.seq > cursor:
                        cursor = item.seq
                        yield item
                if pubsub is None:
                    if loop.time() >= deadline:
                        break
                    await asyncio.sleep(poll_s)
                    batch = await _read(runtime, stream, cursor)
                    continue
                try:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=recheck_s
                    )
                except REDIS_DOWN as exc:
                    log.debug("sse.pubsub_lost", channel=stream.channel, error=type(exc).__name__)
                    break
                if loop.time() >= deadline:
                    batch = await _read(runtime, stream, cursor)
                    deadline = loop.time() + recheck_s
                else:
                    batch = [] if message is None else [StreamEvent.from_message(message["data"])]
        finally:
            if pubsub is not None:
                await _close(pubsub)


def event_source(
    runtime: Runtime, request: Request, stream: Stream, *, ping_s: float = PING_S
) -> EventSourceResponse:
    """The response an SSE endpoint returns: `stream` from the request's Last-Event-ID.

    Each message has `id:` (the outbox position), `event:` (the type, e.g. `invoice.paid`)
    and `data:` (the contract EventEnvelope as JSON).
    """

    async def messages() -> AsyncIterator[ServerSentEvent]:
        async for item in follow(runtime, stream, last_event_id(request)):
            yield ServerSentEvent(item.body, event=item.type, id=str(item.seq))

    return EventSourceResponse(messages(), ping=ping_s)
