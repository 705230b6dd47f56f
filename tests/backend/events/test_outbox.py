"""emit(): the event exists exactly when the caller's transaction commits, and each
stream's ids follow commit order."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from backend.db import unit_of_work
from backend.events.models import Event
from backend.events.service import emit
from backend.runtime import Runtime
from contract.ids import is_id, new_id
from contract.money import Asset, Money


class Boom(Exception):
    pass


async def events_of(runtime: Runtime, subject_id: str) -> list[Event]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(
            select(Event).where(Event.subject_id == subject_id).order_by(Event.id)
        )
        return list(rows)


async def test_an_event_emitted_in_a_rolled_back_transaction_is_never_emitted(
    runtime: Runtime,
) -> None:
    subject = new_id("inv")
    with pytest.raises(Boom):
        async with unit_of_work(runtime.sessionmaker) as session:
            await emit(session, "invoice.paid", subject, {})
            raise Boom
    assert await events_of(runtime, subject) == []


async def test_an_event_rolled_back_with_its_savepoint_is_dropped_and_the_rest_kept(
    runtime: Runtime,
) -> None:
    subject = new_id("inv")
    async with unit_of_work(runtime.sessionmaker) as session:
        await emit(session, "invoice.processing", subject, {})
        with pytest.raises(Boom):
            async with session.begin_nested():
                await emit(session, "invoice.paid", subject, {})
                raise Boom
    assert [e.type for e in await events_of(runtime, subject)] == ["invoice.processing"]


async def test_a_committed_event_carries_its_data_owner_and_a_public_id(runtime: Runtime) -> None:
    subject, owner = new_id("inv"), new_id("usr")
    async with unit_of_work(runtime.sessionmaker) as session:
        public_id = await emit(
            session,
            "invoice.paid",
            subject,
            {"amount": Money(amount=Decimal("1500.00"), asset=Asset.KES), "n": 1},
            owner_id=owner,
        )
        # Visible inside the transaction that wrote it, as any other row would be.
        assert await session.scalar(select(Event.type).where(Event.public_id == public_id))
    [event] = await events_of(runtime, subject)
    assert is_id(event.public_id, "evt") and event.public_id == public_id
    assert event.owner_id == owner and event.published_at is None
    assert event.data == {"amount": {"amount": "1500.00", "asset": "KES"}, "n": 1}
    assert isinstance(event.created_at, datetime) and event.created_at.tzinfo is not None


async def test_emit_refuses_a_type_that_is_not_noun_verb(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        for bad in ("paid", "Invoice.Paid", "invoice.", "invoice paid"):
            with pytest.raises(ValueError):
                await emit(session, bad, new_id("inv"), {})


async def test_ids_of_a_stream_follow_commit_order_not_emit_order(runtime: Runtime) -> None:
    """The first transaction emits first but commits last: its event must come after, or a
    reader that already passed the second event would never see the first."""
    subject = new_id("inv")
    async with unit_of_work(runtime.sessionmaker) as first:
        await emit(first, "invoice.created", subject, {})
        async with unit_of_work(runtime.sessionmaker) as second:
            await emit(second, "invoice.paid", subject, {})
    assert [e.type for e in await events_of(runtime, subject)] == [
        "invoice.paid",
        "invoice.created",
    ]


async def test_events_of_one_transaction_keep_their_emit_order(runtime: Runtime) -> None:
    subject = new_id("inv")
    async with unit_of_work(runtime.sessionmaker) as session:
        for step in ("invoice.created", "invoice.processing", "invoice.paid"):
            await emit(session, step, subject, {})
    types = [e.type for e in await events_of(runtime, subject)]
    assert types == ["invoice.created", "invoice.processing", "invoice.paid"]


async def test_concurrent_emitters_sharing_streams_in_any_order_all_commit(
    runtime: Runtime,
) -> None:
    """Stream locks are taken in one order at commit, so emitting for the same subjects in
    different orders from many transactions never deadlocks."""
    subjects = [new_id("inv") for _ in range(3)]
    owner = new_id("usr")

    async def emitter(seed: int) -> None:
        order = random.Random(seed).sample(subjects, len(subjects))
        async with unit_of_work(runtime.sessionmaker) as session:
            for subject in order:
                await emit(session, "invoice.touched", subject, {"by": seed}, owner_id=owner)
                await asyncio.sleep(0)

    await asyncio.gather(*(emitter(seed) for seed in range(8)))
    for subject in subjects:
        assert len(await events_of(runtime, subject)) == 8
