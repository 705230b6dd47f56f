"""The SSE helper: replay after Last-Event-ID, then live, in order and without duplicates;
polling the outbox while Redis is away. Served by a tiny app of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.dev.embedded import free_port, wait_for_port
from backend.events.relay import relay_once
from backend.events.service import Stream, StreamEvent
from backend.events.sse import event_source, follow
from backend.runtime import Runtime
from contract.events import EventEnvelope
from contract.ids import new_id
from tests.backend.events.conftest import RedisServer
from tests.backend.events.support import emit_committed, seq_of, until_subscribed


def fast_follow(
    runtime: Runtime, stream: Stream, after: int | None = None
) -> AsyncGenerator[StreamEvent, None]:
    """follow() with short polls; rechecks so rare that live delivery must come by pub/sub."""
    return follow(runtime, stream, after, poll_s=0.05, resubscribe_s=0.3, recheck_s=30.0)


async def take(stream: AsyncIterator[StreamEvent], count: int) -> list[StreamEvent]:
    async with asyncio.timeout(10):
        return [await anext(stream) for _ in range(count)]


async def test_follow_replays_after_the_cursor_then_follows_live_without_duplicates(
    runtime: Runtime,
) -> None:
    subject = new_id("inv")
    first, second, third = [
        await emit_committed(runtime, step, subject)
        for step in ("invoice.created", "invoice.processing", "invoice.paid")
    ]
    await relay_once(runtime)
    stream = fast_follow(runtime, Stream.subject(subject), await seq_of(runtime, first))

    replayed = await take(stream, 2)
    assert [e.seq for e in replayed] == [
        await seq_of(runtime, second),
        await seq_of(runtime, third),
    ]
    assert [EventEnvelope.model_validate_json(e.body).id for e in replayed] == [second, third]

    # A duplicate of something already delivered (a relay that published twice) is dropped.
    await runtime.redis.publish(Stream.subject(subject).channel, replayed[-1].message())
    settled = await emit_committed(runtime, "invoice.settled", subject)
    await relay_once(runtime)
    [live] = await take(stream, 1)
    assert live.seq == await seq_of(runtime, settled) and live.type == "invoice.settled"
    await stream.aclose()


async def test_follow_without_a_cursor_starts_from_now(runtime: Runtime) -> None:
    subject = new_id("inv")
    await emit_committed(runtime, "invoice.created", subject)
    stream = fast_follow(runtime, Stream.subject(subject))
    pending = asyncio.ensure_future(anext(stream))
    # Subscribed means placed: the stream read the newest id before it subscribed.
    await until_subscribed(runtime.redis, Stream.subject(subject).channel)
    paid = await emit_committed(runtime, "invoice.paid", subject)
    await relay_once(runtime)
    async with asyncio.timeout(10):
        event = await pending
    assert event.seq == await seq_of(runtime, paid)
    await stream.aclose()


async def test_a_cursor_from_the_future_does_not_silence_the_stream(runtime: Runtime) -> None:
    subject = new_id("inv")
    stream = fast_follow(runtime, Stream.subject(subject), 10**12)
    pending = asyncio.ensure_future(anext(stream))
    await until_subscribed(runtime.redis, Stream.subject(subject).channel)
    paid = await emit_committed(runtime, "invoice.paid", subject)
    await relay_once(runtime)
    async with asyncio.timeout(10):
        event = await pending
    assert event.seq == await seq_of(runtime, paid)
    await stream.aclose()


async def test_an_owner_stream_sees_every_subject_of_that_owner_only(runtime: Runtime) -> None:
    owner = new_id("usr")
    mine = [
        await emit_committed(runtime, "invoice.paid", new_id("inv"), owner_id=owner)
        for _ in range(2)
    ]
    await emit_committed(runtime, "invoice.paid", new_id("inv"), owner_id=new_id("usr"))
    stream = fast_follow(runtime, Stream.owner(owner), 0)
    got = await take(stream, 2)
    assert [EventEnvelope.model_validate_json(e.body).id for e in got] == mine
    await stream.aclose()


async def test_follow_polls_the_outbox_while_redis_is_down_and_goes_live_when_it_returns(
    own_runtime: Runtime, redis_server: RedisServer
) -> None:
    subject = new_id("inv")
    redis_server.stop()
    stream = fast_follow(own_runtime, Stream.subject(subject), 0)

    # Nothing can be published, yet the POS screen still sees the payment.
    paid = await emit_committed(own_runtime, "invoice.paid", subject)
    [polled] = await take(stream, 1)
    assert polled.seq == await seq_of(own_runtime, paid)

    redis_server.start()
    pending = asyncio.ensure_future(anext(stream))
    # Live again: from here on (no recheck for 30 s) only pub/sub can deliver.
    await until_subscribed(own_runtime.redis, Stream.subject(subject).channel)
    await relay_once(own_runtime)  # publishes `paid` again: already delivered, dropped
    settled = await emit_committed(own_runtime, "invoice.settled", subject)
    await relay_once(own_runtime)
    async with asyncio.timeout(10):
        event = await pending
    assert event.seq == await seq_of(own_runtime, settled)
    await stream.aclose()


async def test_a_live_stream_rechecks_the_outbox_when_the_relay_is_not_running(
    runtime: Runtime,
) -> None:
    subject = new_id("inv")
    stream = follow(runtime, Stream.subject(subject), 0, recheck_s=0.2)
    pending = asyncio.ensure_future(anext(stream))
    await until_subscribed(runtime.redis, Stream.subject(subject).channel)
    paid = await emit_committed(runtime, "invoice.paid", subject)  # and no relay runs
    async with asyncio.timeout(10):
        event = await pending
    assert event.seq == await seq_of(runtime, paid)
    await stream.aclose()


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await asyncio.to_thread(wait_for_port, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def sse_app(runtime: Runtime) -> Starlette:
    async def events(request: Request) -> Response:
        return event_source(runtime, request, Stream.subject(request.path_params["subject"]))

    return Starlette(routes=[Route("/events/{subject}", events)])


async def read_events(lines: AsyncIterator[str], count: int) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    async with asyncio.timeout(10):
        async for line in lines:
            if line == "":
                if "id" in fields:
                    events.append(fields)
                    if len(events) == count:
                        return events
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
    raise AssertionError("the stream ended early")


async def test_an_sse_client_reconnecting_with_last_event_id_gets_the_rest_then_live(
    runtime: Runtime,
) -> None:
    subject = new_id("inv")
    first, second = [
        await emit_committed(runtime, step, subject, {"step": step})
        for step in ("invoice.created", "invoice.processing")
    ]
    async with serving(sse_app(runtime)) as base, httpx.AsyncClient(base_url=base) as client:
        headers = {"Last-Event-ID": str(await seq_of(runtime, first))}
        async with client.stream("GET", f"/events/{subject}", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            [replayed] = await read_events(lines, 1)
            paid = await emit_committed(runtime, "invoice.paid", subject, {"step": "paid"})
            await relay_once(runtime)
            [live] = await read_events(lines, 1)

    assert replayed["id"] == str(await seq_of(runtime, second))
    assert replayed["event"] == "invoice.processing"
    assert EventEnvelope.model_validate_json(replayed["data"]).id == second
    assert live["id"] == str(await seq_of(runtime, paid)) and live["event"] == "invoice.paid"
    assert EventEnvelope.model_validate_json(live["data"]).data == {"step": "paid"}
