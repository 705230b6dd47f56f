"""The settable clock: time stands still until moved, a sleeper wakes exactly when its time
comes (never early), also when the sleeper runs on another thread's event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from backend.clock import SYSTEM, SettableClock, unix_ms


def test_the_system_clock_reads_aware_utc() -> None:
    now = SYSTEM.now()
    assert now.tzinfo is UTC and abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_settable_clock_stands_still_until_moved_and_only_forward() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = SettableClock(start)
    assert clock.now() == start and unix_ms(clock) == 1_767_225_600_000
    clock.advance(1.5)
    assert clock.now() == start + timedelta(seconds=1.5)
    assert unix_ms(clock) == 1_767_225_601_500
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        SettableClock(datetime(2026, 1, 1))  # naive


async def test_a_sleeper_wakes_when_its_time_comes_and_not_before() -> None:
    clock = SettableClock()
    sleeping = asyncio.create_task(clock.sleep(3))
    await asyncio.sleep(0)
    assert clock.sleepers == 1
    clock.advance(2.999)
    await asyncio.sleep(0)
    assert not sleeping.done()
    clock.advance(0.001)
    async with asyncio.timeout(5):
        await sleeping
    assert clock.sleepers == 0
    # Nothing to wait for: a sleep of no time returns at once.
    async with asyncio.timeout(5):
        await clock.sleep(0)


async def test_a_cancelled_sleep_leaves_nothing_behind() -> None:
    clock = SettableClock()
    sleeping = asyncio.create_task(clock.sleep(1))
    await asyncio.sleep(0)
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    assert clock.sleepers == 0
    clock.advance(2)  # waking nobody is fine


def test_a_sleeper_on_another_threads_loop_wakes_when_moved() -> None:
    clock = SettableClock()
    woke = threading.Event()

    def other_thread() -> None:
        async def sleeper() -> None:
            await clock.sleep(10)
            woke.set()

        asyncio.run(sleeper())

    thread = threading.Thread(target=other_thread, daemon=True)
    thread.start()
    parked = threading.Event()
    for _ in range(500):  # until the other loop has registered its sleep
        if clock.sleepers:
            parked.set()
            break
        parked.wait(0.01)
    assert parked.is_set()
    assert not woke.wait(0.05)
    clock.advance(10)
    assert woke.wait(5)
    thread.join(5)
