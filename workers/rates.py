"""Jobs of the rates domain: keep the shared rate snapshot warm, so requests read a cache
instead of waiting on the providers."""

from __future__ import annotations

from backend.rates import service
from backend.settings import get_settings
from workers.job import Job, cron_job, job


@job("rates.refresh", timeout_s=30, max_tries=1)
async def refresh(job: Job) -> None:
    # A refresh already running elsewhere (another worker, or an API request that found
    # the cache expired) does the same work; this tick then has nothing to add.
    await service.refresh_once(job.runtime)


FUNCTIONS = [refresh]
CRON_JOBS = [
    cron_job(
        refresh,
        second=set(range(0, 60, get_settings().rates_refresh_every_s)),
        run_at_startup=True,
    ),
]
