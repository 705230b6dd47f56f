"""Shared fixtures: a migrated database per xdist worker, Redis flushed per test, the API
in-process behind an httpx client, and a worker's jobs run for real."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from redis.asyncio import Redis
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from backend.app import create_app
from backend.dev import embedded
from backend.dev.database import ensure_database, migrate, with_database
from backend.models import metadata
from backend.runtime import Runtime
from backend.settings import Environment, Settings
from tests.rates_feed import RatesFeed, RatesFeedServer

# Signed-in accounts (customer, merchant, other_merchant, admin) and API-key helpers;
# a session's anvil node with our TestUSDT, the Ethereum connector, and a master seed.
pytest_plugins = ["tests.identity", "tests.chains.anvil"]

ROOT = Path(__file__).resolve().parents[1]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
WORKER_NUMBER = int(WORKER.removeprefix("gw") or 0)
# Lets several checkouts or people share one PostgreSQL/Redis without trampling each other.
NAMESPACE = os.environ.get("QPEAPAY_TEST_NAMESPACE", "")

hypothesis_settings.register_profile(
    "qpeapay", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
hypothesis_settings.load_profile("qpeapay")


@pytest.fixture(scope="session")
def service_urls() -> Iterator[tuple[str, str]]:
    """PostgreSQL and Redis base URLs: the configured ones, or embedded servers in var/test."""
    configured_redis = bool(os.environ.get("REDIS_URL"))
    with embedded.configured_or_embedded(ROOT / "var" / "test", f"redis-{WORKER}") as urls:
        database, redis = urls
        if configured_redis:
            # One logical database per worker (counting up from the URL's) keeps flushes apart.
            base, _, number = redis.rpartition("/")
            redis = f"{base}/{int(number or 0) + WORKER_NUMBER}"
        yield database, redis


@pytest.fixture(scope="session")
def rates_feed_server() -> Iterator[RatesFeedServer]:
    """The rate-feed stand-in over real HTTP; every provider points at it (tests/rates_feed.py)."""
    server = RatesFeedServer()
    yield server
    server.stop()


@pytest.fixture
async def rates_feed(rates_feed_server: RatesFeedServer) -> AsyncIterator[RatesFeed]:
    """A steady market for one test; whatever the test breaks is mended afterwards."""
    feed = RatesFeed(rates_feed_server.url)
    await feed.reset()
    yield feed
    await feed.reset()


@pytest.fixture(scope="session")
def settings(service_urls: tuple[str, str], rates_feed_server: RatesFeedServer) -> Settings:
    database, redis = service_urls
    url = with_database(database, f"qpeapay_test{NAMESPACE}_{WORKER}")
    ensure_database(url, drop=True)
    migrate(url)
    return Settings(
        environment=Environment.test,
        database_url=url,
        redis_url=redis,
        log_json=True,
        log_level="WARNING",
        database_pool_size=5,
        # No chain watcher runs (or is probed by /readyz) unless a test starts one.
        chain_watchers=[],
        # Tests read verification codes back from the dev outbox, as a developer does.
        dev_outbox_enabled=True,
        **rates_feed_server.settings(),
    )


class WithState:
    """ASGI wrapper that hands the lifespan state to each request, as uvicorn does."""

    def __init__(self, app: Starlette, state: dict[str, Any]) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
async def api_app(settings: Settings) -> AsyncIterator[tuple[Starlette, dict[str, Any]]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        yield app, dict(state or {})


async def _clean(runtime: Runtime) -> None:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    async with runtime.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await runtime.redis.flushdb()


@pytest.fixture
async def runtime(api_app: tuple[Starlette, dict[str, Any]]) -> Runtime:
    """The API process's shared clients, on an emptied database and Redis."""
    rt: Runtime = api_app[1]["runtime"]
    await _clean(rt)
    return rt


@pytest.fixture
async def api(
    api_app: tuple[Starlette, dict[str, Any]], runtime: Runtime
) -> AsyncIterator[httpx.AsyncClient]:
    app, state = api_app
    transport = httpx.ASGITransport(app=WithState(app, state), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


@pytest.fixture
async def redis(runtime: Runtime) -> Redis:
    return runtime.redis
