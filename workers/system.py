"""Jobs of the system domain: the heartbeat /readyz reads to know a worker is alive."""

from __future__ import annotations

from backend.system import service
from workers.job import Job, cron_job, job

HEARTBEAT_EVERY_S = 5  # well inside Settings.worker_heartbeat_max_age_s (30 by default)


@job("system.heartbeat", timeout_s=10, max_tries=1)
async def heartbeat(job: Job) -> None:
    # Beating from a job, not a side task, proves the worker is still picking up jobs.
    await service.beat(job.runtime.redis)


FUNCTIONS = [heartbeat]
CRON_JOBS = [
    cron_job(heartbeat, second=set(range(0, 60, HEARTBEAT_EVERY_S)), run_at_startup=True),
]
