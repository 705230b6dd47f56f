"""The time code reads when elapsed time decides what it does (cache ages, breaker
cooldowns, block production): passed in, so a test moves time instead of waiting for it.

    Clock          what such code takes: `now()` (aware UTC) and `sleep(delay_s)`
    SystemClock    the real time, for every process (`Runtime.clock` by default)
    SettableClock  stands still until `advance()` moves it; sleepers wake as their time
                   comes, also across threads (a stand-in served in a background thread)

Invariants: `now()` is timezone-aware UTC and never goes backwards on a SettableClock;
a sleeper wakes only once the clock has reached its due time, never early.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, delay_s: float) -> None: ...


def unix_ms(clock: Clock) -> int:
    """`clock.now()` as whole milliseconds since the Unix epoch."""
    return int(clock.now().timestamp() * 1000)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)


SYSTEM = SystemClock()


@dataclass
class _Sleeper:
    due: datetime
    loop: asyncio.AbstractEventLoop
    woken: asyncio.Future[None]


class SettableClock:
    """A clock for tests: it reads `start` (default: the real time when made) until moved."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        if self._now.tzinfo is None:
            raise ValueError("a clock reads aware times")
        self._sleepers: list[_Sleeper] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    @property
    def sleepers(self) -> int:
        """How many sleeps wait for this clock to move (for a test to know a loop is parked)."""
        with self._lock:
            return sum(1 for s in self._sleepers if not s.woken.done())

    async def sleep(self, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            sleeper = _Sleeper(self._now + timedelta(seconds=delay_s), loop, loop.create_future())
            if sleeper.due <= self._now:
                sleeper.woken.set_result(None)
            else:
                self._sleepers.append(sleeper)
        try:
            await sleeper.woken
        finally:
            with self._lock:
                if sleeper in self._sleepers:
                    self._sleepers.remove(sleeper)

    def advance(self, delay_s: float) -> None:
        """Move the clock forward and wake every sleeper whose time has come."""
        if delay_s < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += timedelta(seconds=delay_s)
            due = [s for s in self._sleepers if s.due <= self._now]
            self._sleepers = [s for s in self._sleepers if s.due > self._now]
        for sleeper in due:
            sleeper.loop.call_soon_threadsafe(_wake, sleeper.woken)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():  # a cancelled sleep stays cancelled
        woken.set_result(None)
