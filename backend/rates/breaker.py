"""A circuit breaker per rate provider, kept in Redis so every API and worker process agrees
on which provider is down (one process finding it out spares the others the timeouts).

closed → after `failures` failed fetches in a row → open (skipped) for `cooldown_s` →
half-open: exactly one process, cluster-wide, gets to probe; success closes, failure
re-opens for another cooldown.
"""

from __future__ import annotations

from enum import StrEnum

from redis.asyncio import Redis

from backend.clock import SYSTEM, Clock, unix_ms

_KEY = "rates:breaker:{name}"
# Kept long enough to remember a flapping provider, short enough not to leak keys.
_MEMORY_S = 86_400


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


def _key(name: str) -> str:
    return _KEY.format(name=name)


async def state(
    redis: Redis, name: str, cooldown_s: int, clock: Clock = SYSTEM
) -> tuple[BreakerState, int]:
    raw = await redis.hgetall(_key(name))  # type: ignore[misc]  # redis-py: sync-or-async union
    failures = int(raw.get("failures", 0))
    opened = raw.get("opened_at")
    if opened is None:
        return BreakerState.closed, failures
    if unix_ms(clock) - int(opened) < cooldown_s * 1000:
        return BreakerState.open, failures
    return BreakerState.half_open, failures


async def allow(redis: Redis, name: str, cooldown_s: int, clock: Clock = SYSTEM) -> bool:
    """May this process call the provider now?"""
    current, _ = await state(redis, name, cooldown_s, clock)
    if current is BreakerState.closed:
        return True
    if current is BreakerState.open:
        return False
    # Half-open: the first process to claim the probe tries; the rest keep skipping.
    return bool(await redis.set(_key(name) + ":probe", "1", nx=True, ex=cooldown_s))


async def succeeded(redis: Redis, name: str) -> None:
    await redis.delete(_key(name), _key(name) + ":probe")


async def failed(redis: Redis, name: str, threshold: int, clock: Clock = SYSTEM) -> bool:
    """Count a failure; returns True when this failure (re)opened the breaker."""
    key = _key(name)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "failures", 1)
        pipe.expire(key, _MEMORY_S)
        failures, _ = await pipe.execute()
    if int(failures) < threshold:
        return False
    await redis.hset(key, "opened_at", str(unix_ms(clock)))  # type: ignore[misc]  # redis-py: sync-or-async union
    return True
