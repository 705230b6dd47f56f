"""How a job is written: `@job("domain.verb")` over `async def f(job: Job, ...)`.

Every job runs in its own unit of work (commit on success, rollback on error) with the
queue bound, so it can `enqueue_after_commit`. Every job may run twice (a retry, a
duplicate enqueue, a worker killed after the commit): it re-reads state and does nothing
if its work is already done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

import structlog
from arq.cron import CronJob, cron
from arq.worker import Function, func
from sqlalchemy.ext.asyncio import AsyncSession

from backend import queue
from backend.db import unit_of_work
from backend.runtime import Runtime

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Job:
    """What a job gets: the process's clients and the session of its own transaction."""

    runtime: Runtime
    session: AsyncSession
    id: str
    attempt: int  # 1 on the first run; a job may also run twice with attempt 1


def job(
    name: str, *, timeout_s: float | None = None, max_tries: int | None = None
) -> Callable[[Callable[Concatenate[Job, P], Awaitable[R]]], Function]:
    """Register `fn` as the job `name`, the string callers pass to enqueue_after_commit."""

    def register(fn: Callable[Concatenate[Job, P], Awaitable[R]]) -> Function:
        async def run(ctx: dict[str, Any], *args: P.args, **kwargs: P.kwargs) -> R:
            runtime: Runtime = ctx["runtime"]
            with structlog.contextvars.bound_contextvars(job=name, job_id=ctx["job_id"]):
                async with unit_of_work(runtime.sessionmaker) as session:
                    queue.bind(session, runtime.queue)
                    current = Job(runtime, session, ctx["job_id"], ctx["job_try"])
                    return await fn(current, *args, **kwargs)

        run.__qualname__ = run.__name__ = name
        return func(run, name=name, timeout=timeout_s, max_tries=max_tries)

    return register


def cron_job(function: Function, **when: Any) -> CronJob:
    """Run a registered job on a schedule; `when` takes arq's cron fields (`second={0, 30}`,
    `minute=5`, `run_at_startup=True`). With several workers it still runs once per time."""
    return cron(function.coroutine, name=f"cron:{function.name}", **when)
