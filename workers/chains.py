"""The chain watchers of the worker: one loop per watched network, beside the jobs.

Loops rather than arq cron jobs: cron ticks at most once a second and is scheduled through
Redis, while a watcher polls its node every CHAIN_POLL_INTERVAL_S and needs only
PostgreSQL. Every worker runs the loops; the advisory lock lets one process per network
do the work while the others stand by to take over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from backend.chains.lifespan import open_watchers
from backend.runtime import Runtime


@asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run the watched networks' watchers in the background for the life of the block."""
    async with open_watchers(runtime) as watchers:
        tasks = [
            asyncio.create_task(watcher.run(), name=f"chains.watch.{watcher.network}")
            for watcher in watchers
        ]
        try:
            yield tasks
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
