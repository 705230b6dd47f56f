"""Process health: the worker heartbeat and the readiness checks of the API's dependencies."""

from __future__ import annotations

import time

from redis.asyncio import Redis
from sqlalchemy import text

from backend.runtime import Runtime

HEARTBEAT_KEY = "qpeapay:worker:heartbeat"


async def beat(redis: Redis) -> None:
    await redis.set(HEARTBEAT_KEY, str(time.time()), ex=300)


async def heartbeat_age(redis: Redis) -> float | None:
    value = await redis.get(HEARTBEAT_KEY)
    return None if value is None else max(0.0, time.time() - float(value))


async def readiness(runtime: Runtime) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        await runtime.redis.ping()
        age = await heartbeat_age(runtime.redis)
        checks["redis"] = "ok"
        if age is None:
            checks["worker"] = "down: no heartbeat"
        elif age > runtime.settings.worker_heartbeat_max_age_s:
            checks["worker"] = f"down: last heartbeat {age:.0f}s ago"
        else:
            checks["worker"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
        checks["worker"] = "unknown: redis is down"
    for name, probe in runtime.readiness.items():
        try:
            checks[name] = await probe()
        except Exception as exc:
            checks[name] = f"down: {type(exc).__name__}"
    return checks
