"""The engine's pool: idle connections are checked before use, busy ones are not."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.db import create_engine
from backend.settings import Settings


async def _backend_pid(settings: Settings, ping_after_idle_s: float) -> tuple[int, int]:
    """Use the pool's one connection, kill it from outside while it idles, use the pool again:
    the pids of the first and the second connection."""
    engine = create_engine(settings.database_url, pool_size=1, ping_after_idle_s=ping_after_idle_s)
    killer = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            first = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            await conn.commit()
        async with engine.connect() as conn:
            second = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)
        return first, second
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_a_connection_that_died_while_idle_is_replaced_before_use(
    settings: Settings,
) -> None:
    first, second = await _backend_pid(settings, ping_after_idle_s=0)
    assert second != first


async def test_a_connection_used_moments_ago_is_not_pinged(settings: Settings) -> None:
    # No ping within the idle window: the dead connection is only found by using it.
    with pytest.raises(DBAPIError):
        await _backend_pid(settings, ping_after_idle_s=3600)
