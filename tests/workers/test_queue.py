"""enqueue_after_commit: a job reaches the arq queue in Redis only once the caller commits."""

from __future__ import annotations

import pytest
from arq.constants import default_queue_name
from arq.jobs import Job, JobStatus

from backend import queue
from backend.db import unit_of_work
from backend.runtime import Runtime


class Boom(Exception):
    pass


async def test_a_job_is_queued_after_the_commit_not_before(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        queue.bind(session, runtime.queue)
        queue.enqueue_after_commit(session, "system.heartbeat", job_id="after-commit")
        assert await runtime.queue.zcard(default_queue_name) == 0

    assert await runtime.queue.zcard(default_queue_name) == 1
    job = Job("after-commit", runtime.queue)
    assert await job.status() is JobStatus.queued
    info = await job.info()
    assert info is not None and info.function == "system.heartbeat"


async def test_a_rolled_back_transaction_queues_nothing(runtime: Runtime) -> None:
    with pytest.raises(Boom):
        async with unit_of_work(runtime.sessionmaker) as session:
            queue.bind(session, runtime.queue)
            queue.enqueue_after_commit(session, "system.heartbeat", job_id="rolled-back")
            raise Boom
    assert await runtime.queue.zcard(default_queue_name) == 0
    assert await Job("rolled-back", runtime.queue).status() is JobStatus.not_found


async def test_enqueueing_needs_a_unit_of_work_with_the_queue_bound(runtime: Runtime) -> None:
    async with runtime.sessionmaker() as session:
        with pytest.raises(RuntimeError):
            queue.enqueue_after_commit(session, "system.heartbeat")
