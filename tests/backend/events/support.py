"""Helpers the events and workers tests share: committed emits and Redis subscribers."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from sqlalchemy import select

from backend.db import unit_of_work
from backend.events.models import Event
from backend.events.service import emit
from backend.runtime import Runtime


async def emit_committed(
    runtime: Runtime,
    type: str,
    subject_id: str,
    data: dict[str, Any] | None = None,
    owner_id: str | None = None,
) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await emit(session, type, subject_id, data or {}, owner_id=owner_id)


async def seq_of(runtime: Runtime, public_id: str) -> int:
    async with runtime.sessionmaker() as session:
        seq = await session.scalar(select(Event.id).where(Event.public_id == public_id))
    assert seq is not None
    return seq


async def subscribed(redis: Redis, *channels: str) -> PubSub:
    pubsub = redis.pubsub()
    await pubsub.subscribe(*channels)
    for _ in channels:
        confirmation = await pubsub.get_message(timeout=5)
        assert confirmation is not None and confirmation["type"] == "subscribe"
    return pubsub


async def next_message(pubsub: PubSub, wait_s: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] | None = await pubsub.get_message(
        ignore_subscribe_messages=True, timeout=wait_s
    )
    assert message is not None, "nothing was published"
    return message


async def until_subscribed(redis: Redis, channel: str) -> None:
    """Wait until someone (a stream under test) listens on `channel`."""
    for _ in range(200):
        [(_, count)] = await redis.pubsub_numsub(channel)
        if count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"nobody subscribed to {channel}")


async def close(pubsub: PubSub) -> None:
    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
