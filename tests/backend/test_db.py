"""The engine's pool: idle connections are checked before use, busy ones are not, and a
request that finds no free connection is answered 503, not 500."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.app import create_app
from backend.db import create_engine
from backend.runtime import Runtime
from backend.settings import Settings
from tests.conftest import WithState


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


async def test_a_request_that_finds_every_connection_busy_is_told_to_come_back(
    settings: Settings,
) -> None:
    tight = settings.model_copy(update={"database_pool_size": 1, "database_pool_timeout_s": 0.2})
    app = create_app(tight)
    async with app.router.lifespan_context(app) as state:
        runtime: Runtime = dict(state or {})["runtime"]
        transport = httpx.ASGITransport(app=WithState(app, dict(state or {})))
        async with (
            runtime.engine.connect() as first,
            runtime.engine.connect() as second,  # the pool's overflow: nothing is left
            httpx.AsyncClient(transport=transport, base_url="http://api.test") as client,
        ):
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
            response = await client.post(
                "/v1/auth/login", json={"email": "someone@example.com", "password": "x" * 12}
            )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "busy"
    assert response.headers["retry-after"] == "1"
