"""Jobs of the custodial wallets: take withdrawals to the chain step by step, and a poller
that picks up whatever an enqueue missed (a lost nudge, a hot wallet that was busy, a
transaction waiting for confirmations)."""

from __future__ import annotations

from backend import queue
from backend.withdrawals import processing, service
from workers.job import Job, cron_job, job

POLL_EVERY_S = 5


@job(service.ADVANCE_JOB, timeout_s=120)
async def advance_withdrawal(job: Job, withdrawal_id: str) -> bool:
    # One step per run (sign, broadcast or track) so signing commits before broadcasting;
    # the step enqueues the next after its commit.
    return await processing.advance(job.session, job.runtime, withdrawal_id)


@job("withdrawals.poll", timeout_s=30, max_tries=1)
async def poll_withdrawals(job: Job) -> int:
    moving = await service.open_ids(job.session)
    for withdrawal_id in moving:
        queue.enqueue_after_commit(job.session, service.ADVANCE_JOB, withdrawal_id)
    return len(moving)


FUNCTIONS = [advance_withdrawal, poll_withdrawals]
CRON_JOBS = [
    cron_job(poll_withdrawals, second=set(range(0, 60, POLL_EVERY_S)), run_at_startup=True),
]
