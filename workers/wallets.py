"""Jobs of the custodial wallets: take withdrawals to the chain step by step, sweep deposit
addresses into the hot wallets, and pollers that pick up whatever an enqueue missed (a lost
nudge, a sender that was busy, a transaction waiting for confirmations)."""

from __future__ import annotations

from backend import queue
from backend.treasury import sweeper
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


@job(sweeper.ADVANCE_JOB, timeout_s=120)
async def advance_sweep(job: Job, sweep_id: str) -> bool:
    return await sweeper.advance(job.session, job.runtime, sweep_id)


@job("treasury.sweep", timeout_s=300, max_tries=1)
async def sweep(job: Job) -> int:
    """Open sweeps for deposit addresses over their threshold, and nudge the open ones."""
    opened = await sweeper.plan(job.session, job.runtime)
    for sweep_id in await sweeper.open_ids(job.session):
        if sweep_id not in opened:
            queue.enqueue_after_commit(job.session, sweeper.ADVANCE_JOB, sweep_id)
    return len(opened)


FUNCTIONS = [advance_withdrawal, poll_withdrawals, advance_sweep, sweep]
CRON_JOBS = [
    cron_job(poll_withdrawals, second=set(range(0, 60, POLL_EVERY_S)), run_at_startup=True),
    cron_job(sweep, second={30}),
]
