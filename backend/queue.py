"""The only module that knows arq: enqueue jobs, and only after the caller's commit.

Every job may run twice, so a job id (when given) makes a second enqueue a no-op while
the first is queued, and jobs themselves re-read state before acting.
"""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import after_commit

_POOL = "arq_pool"


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


async def connect(url: str) -> ArqRedis:
    return await create_pool(redis_settings(url))


def bind(session: AsyncSession, pool: ArqRedis) -> None:
    """Give a session the pool its after-commit enqueues go to."""
    session.info[_POOL] = pool


def enqueue_after_commit(
    session: AsyncSession, job: str, *args: Any, job_id: str | None = None, **kwargs: Any
) -> None:
    pool: ArqRedis | None = session.info.get(_POOL)
    if pool is None:
        raise RuntimeError("session has no queue bound; use the request or job unit of work")

    async def _enqueue() -> None:
        await pool.enqueue_job(job, *args, _job_id=job_id, **kwargs)

    after_commit(session, _enqueue)
