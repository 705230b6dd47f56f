"""The rates job for real: a worker run fills the shared snapshot from the stand-in, so API
requests read the cache; the cron ticks every RATES_REFRESH_EVERY_S seconds."""

from __future__ import annotations

from arq.worker import Worker

from backend import queue
from backend.db import unit_of_work
from backend.rates import service
from backend.runtime import Runtime
from backend.settings import Settings
from contract.money import Asset
from tests.rates_feed import RatesFeed
from workers import main


async def test_the_refresh_job_warms_the_rates_cache(
    runtime: Runtime, settings: Settings, rates_feed: RatesFeed
) -> None:
    assert await runtime.redis.get(service.SNAPSHOT_KEY) is None
    async with unit_of_work(runtime.sessionmaker) as session:
        queue.bind(session, runtime.queue)
        queue.enqueue_after_commit(session, "rates.refresh", job_id="refresh-once")
    worker = Worker(
        **main.worker_settings(settings), burst=True, handle_signals=False, poll_delay=0.05
    )
    try:
        await worker.run_check()
    finally:
        await worker.close()
    before = await rates_feed.hits()
    assert before["coingecko"] >= 1
    rate = await service.rate(runtime, Asset.BTC)
    assert len(rate.sources) == 2  # BTC/KES: bounded by USD/KES's two sources
    assert await rates_feed.hits() == before  # served from the cache the worker filled


def test_the_cron_runs_at_start_up_and_every_refresh_interval(settings: Settings) -> None:
    [cron] = [job for job in main.CRON_JOBS if job.name == "cron:rates.refresh"]
    assert cron.run_at_startup
    assert cron.second == set(range(0, 60, settings.rates_refresh_every_s))
