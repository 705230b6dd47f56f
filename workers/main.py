"""The worker process (`arq workers.main.WorkerSettings`): every domain's jobs, cron jobs
and event handlers in one list each, the runtime it opens at start-up, and the loops that
run beside the jobs (the outbox relay, the chain watchers).

To add a domain, write `workers/<domain>.py` with its FUNCTIONS (and CRON_JOBS, event
handlers if it has them) and add them to the lists below.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from arq.cron import CronJob
from arq.worker import Function

from backend import logs, queue
from backend.events import relay
from backend.runtime import Runtime, open_runtime
from backend.settings import Settings, get_settings
from workers import chains, rates, system, wallets

FUNCTIONS: list[Function] = [
    *system.FUNCTIONS,
    *rates.FUNCTIONS,
    *wallets.FUNCTIONS,
]
CRON_JOBS: list[CronJob] = [
    *system.CRON_JOBS,
    *rates.CRON_JOBS,
    *wallets.CRON_JOBS,
]
# Consumers of every event, run by the relay in its transaction (see relay.EventHandler).
EVENT_HANDLERS: list[relay.EventHandler] = []


async def _run_loops(stack: AsyncExitStack, runtime: Runtime) -> None:
    # The relay is a loop beside the jobs rather than an arq cron job: cron ticks at most
    # once a second (a POS screen should turn green sooner), and cron jobs are scheduled
    # through Redis, which is exactly what may be down while the outbox fills; the loop
    # keeps ticking against PostgreSQL and publishes as soon as Redis is back. Every worker
    # runs one; the advisory lock lets one relay at a time do the work.
    await stack.enter_async_context(relay.running(runtime, EVENT_HANDLERS))
    # A watcher loop per network in CHAIN_WATCHERS (one process at a time does the work).
    await stack.enter_async_context(chains.running(runtime))


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    logs.configure(settings.log_level, settings.log_json)
    stack = AsyncExitStack()
    try:
        runtime = await stack.enter_async_context(open_runtime(settings))
        ctx["runtime"] = runtime
        await _run_loops(stack, runtime)
    except BaseException:
        await stack.aclose()
        raise
    ctx["exit_stack"] = stack


async def shutdown(ctx: dict[str, Any]) -> None:
    stack: AsyncExitStack | None = ctx.pop("exit_stack", None)
    if stack is not None:
        await stack.aclose()


def worker_settings(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for arq's Worker: what WorkerSettings says, for given settings."""
    return {
        "functions": FUNCTIONS,
        "cron_jobs": CRON_JOBS,
        "redis_settings": queue.redis_settings(settings.redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings},
    }


class WorkerSettings:
    """What `arq workers.main.WorkerSettings` reads; settings come from the environment."""

    functions = FUNCTIONS
    cron_jobs = CRON_JOBS
    redis_settings = queue.redis_settings(get_settings().redis_url)
    on_startup = startup
    on_shutdown = shutdown
