"""The relay: publishes committed events once, in order, to their subject and owner
channels; runs one at a time; and loses nothing while Redis is down."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from backend.db import unit_of_work
from backend.events.models import Event
from backend.events.relay import REDIS_DOWN, RELAY_LOCK, relay_once, running
from backend.events.service import Stream
from backend.runtime import Runtime
from contract.events import EventEnvelope
from contract.ids import new_id
from tests.backend.events.conftest import RedisServer
from tests.backend.events.support import (
    close,
    emit_committed,
    next_message,
    seq_of,
    subscribed,
)


async def unpublished(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Event).where(Event.published_at.is_(None))
        )
    return count or 0


async def test_relay_publishes_in_id_order_to_subject_and_owner_and_marks_published(
    runtime: Runtime,
) -> None:
    subject, owner = new_id("inv"), new_id("usr")
    by_subject = await subscribed(runtime.redis, Stream.subject(subject).channel)
    by_owner = await subscribed(runtime.redis, Stream.owner(owner).channel)
    steps = ["invoice.created", "invoice.processing", "invoice.paid"]
    ids = [
        await emit_committed(runtime, step, subject, {"step": n}, owner_id=owner)
        for n, step in enumerate(steps)
    ]

    assert await relay_once(runtime) == 3

    for pubsub in (by_subject, by_owner):
        received = [json.loads((await next_message(pubsub))["data"]) for _ in steps]
        assert [m["seq"] for m in received] == [await seq_of(runtime, i) for i in ids]
        envelopes = [EventEnvelope.model_validate_json(m["body"]) for m in received]
        assert [e.id for e in envelopes] == ids
        assert [e.type for e in envelopes] == steps
        assert [e.data for e in envelopes] == [{"step": 0}, {"step": 1}, {"step": 2}]
        await close(pubsub)
    assert await unpublished(runtime) == 0


async def test_running_the_relay_again_publishes_nothing_new(runtime: Runtime) -> None:
    subject = new_id("inv")
    pubsub = await subscribed(runtime.redis, Stream.subject(subject).channel)
    await emit_committed(runtime, "invoice.paid", subject)
    assert await relay_once(runtime) == 1
    await next_message(pubsub)

    assert await relay_once(runtime) == 0
    assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3) is None
    await close(pubsub)


async def test_only_one_relay_works_at_a_time(runtime: Runtime) -> None:
    await emit_committed(runtime, "invoice.paid", new_id("inv"))
    async with unit_of_work(runtime.sessionmaker) as other_relay:
        await other_relay.scalar(select(func.pg_advisory_xact_lock(*RELAY_LOCK)))
        assert await relay_once(runtime) == 0
    assert await unpublished(runtime) == 1
    assert await relay_once(runtime) == 1


async def test_handlers_see_every_event_in_order_within_the_relay_transaction(
    runtime: Runtime,
) -> None:
    seen: list[tuple[int, str]] = []

    async def record(session: AsyncSession, event: Event) -> None:
        # The handler shares the relay's transaction: it can read (and write) alongside.
        assert await session.scalar(select(Event.published_at).where(Event.id == event.id)) is None
        seen.append((event.id, event.type))

    subject = new_id("inv")
    for step in ("invoice.created", "invoice.paid"):
        await emit_committed(runtime, step, subject)
    assert await relay_once(runtime, [record]) == 2
    assert [t for _, t in seen] == ["invoice.created", "invoice.paid"]
    assert seen == sorted(seen)


async def test_a_failing_handler_leaves_the_batch_unpublished_for_the_next_tick(
    runtime: Runtime,
) -> None:
    async def broken(session: AsyncSession, event: Event) -> None:
        raise RuntimeError("handler bug")

    subject = new_id("inv")
    pubsub = await subscribed(runtime.redis, Stream.subject(subject).channel)
    await emit_committed(runtime, "invoice.paid", subject)
    with pytest.raises(RuntimeError):
        await relay_once(runtime, [broken])
    assert await unpublished(runtime) == 1
    assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3) is None

    assert await relay_once(runtime) == 1
    await next_message(pubsub)
    await close(pubsub)


async def test_an_event_emitted_while_redis_is_down_is_delivered_after_it_returns(
    own_runtime: Runtime, redis_server: RedisServer
) -> None:
    subject = new_id("inv")
    # Redis is up and the relay has a live connection to it ...
    await emit_committed(own_runtime, "invoice.processing", subject)
    assert await relay_once(own_runtime) == 1

    # ... then Redis goes away while a payment lands.
    redis_server.stop()
    paid = await emit_committed(own_runtime, "invoice.paid", subject, {"amount": "1500.00"})
    with pytest.raises(REDIS_DOWN):
        await relay_once(own_runtime)
    with pytest.raises(REDIS_DOWN):
        await relay_once(own_runtime)
    assert await unpublished(own_runtime) == 1

    redis_server.start()
    pubsub = await subscribed(own_runtime.redis, Stream.subject(subject).channel)
    assert await relay_once(own_runtime) == 1

    message = json.loads((await next_message(pubsub))["data"])
    assert message["seq"] == await seq_of(own_runtime, paid)
    envelope = EventEnvelope.model_validate_json(message["body"])
    assert (envelope.id, envelope.type, envelope.data) == (
        paid,
        "invoice.paid",
        {"amount": "1500.00"},
    )
    assert await unpublished(own_runtime) == 0
    await close(pubsub)


async def test_the_relay_loop_rides_out_a_redis_outage(
    own_runtime: Runtime, redis_server: RedisServer
) -> None:
    async with running(own_runtime, interval_s=0.05):
        redis_server.stop()
        with capture_logs() as logs:
            await emit_committed(own_runtime, "invoice.paid", new_id("inv"))
            # A tick that found the event and could not publish it says so (once per outage).
            async with asyncio.timeout(10):
                while not any(e["event"] == "events.relay_redis_down" for e in logs):  # noqa: ASYNC110 - a list of logs, nothing to await
                    await asyncio.sleep(0.02)
        assert await unpublished(own_runtime) == 1
        redis_server.start()
        for _ in range(200):
            if await unpublished(own_runtime) == 0:
                break
            await asyncio.sleep(0.05)
        assert await unpublished(own_runtime) == 0
