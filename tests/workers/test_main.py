"""The worker for real: arq runs our jobs in a unit of work, the heartbeat makes /readyz
ready, and the outbox relay runs beside the jobs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from arq.jobs import Job as ArqJob
from arq.worker import Worker
from sqlalchemy import select

from backend import queue
from backend.db import unit_of_work
from backend.events.models import Event
from backend.events.service import Stream, emit
from backend.runtime import Runtime
from backend.settings import Settings
from contract.ids import new_id
from tests.backend.events.support import close, emit_committed, next_message, subscribed
from workers import main, system
from workers.job import Job, job


def make_worker(settings: Settings, **overrides: Any) -> Worker:
    options = {**main.worker_settings(settings), **overrides}
    return Worker(**options, handle_signals=False, poll_delay=0.05)


@asynccontextmanager
async def worker_running(settings: Settings) -> AsyncIterator[Worker]:
    worker = make_worker(settings)
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        task.cancel()
        await worker.close()


async def test_a_burst_worker_runs_a_queued_job_and_its_heartbeat_makes_readyz_ready(
    api: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    assert (await api.get("/readyz")).json()["checks"]["worker"].startswith("down")
    async with unit_of_work(runtime.sessionmaker) as session:
        queue.bind(session, runtime.queue)
        queue.enqueue_after_commit(session, "system.heartbeat", job_id="beat-once")

    worker = make_worker(settings, burst=True)
    try:
        completed = await worker.run_check()
    finally:
        await worker.close()

    assert completed >= 2  # the queued job and the heartbeat cron's run at start-up
    result = await ArqJob("beat-once", runtime.queue).result_info()
    assert result is not None and result.success and result.function == "system.heartbeat"
    response = await api.get("/readyz")
    assert response.status_code == 200, response.json()


@job("test.record_and_chain")
async def record_and_chain(current: Job, subject: str, fail: bool) -> str:
    public_id = await emit(current.session, "test.recorded", subject, {"job": current.id})
    queue.enqueue_after_commit(current.session, "system.heartbeat", job_id=f"chained-{subject}")
    if fail:
        raise RuntimeError("the job fails after writing")
    return public_id


@pytest.mark.parametrize("fail", [False, True])
async def test_a_job_commits_its_writes_and_chained_jobs_only_when_it_succeeds(
    runtime: Runtime, settings: Settings, fail: bool
) -> None:
    subject = new_id("inv")
    await runtime.queue.enqueue_job("test.record_and_chain", subject, fail, _job_id="j")
    worker = make_worker(
        settings,
        functions=[record_and_chain, system.heartbeat],
        cron_jobs=[],
        max_tries=1,
        burst=True,
    )
    try:
        await worker.async_run()
    finally:
        await worker.close()

    async with runtime.sessionmaker() as session:
        written = (await session.scalars(select(Event).where(Event.subject_id == subject))).all()
    chained = await ArqJob(f"chained-{subject}", runtime.queue).result_info()
    if fail:
        assert written == [] and chained is None
    else:
        [event] = written
        assert event.data == {"job": "j"}
        assert chained is not None and chained.success


async def test_the_worker_relays_committed_events_to_redis(
    runtime: Runtime, settings: Settings
) -> None:
    subject = new_id("inv")
    pubsub = await subscribed(runtime.redis, Stream.subject(subject).channel)
    async with worker_running(settings):
        paid = await emit_committed(runtime, "invoice.paid", subject)
        message = json.loads((await next_message(pubsub, wait_s=10))["data"])
    assert json.loads(message["body"])["id"] == paid
    await close(pubsub)


def test_every_job_and_cron_name_is_unique() -> None:
    names = [f.name for f in main.FUNCTIONS] + [c.name for c in main.CRON_JOBS]
    assert len(names) == len(set(names)), names
    assert "system.heartbeat" in names
