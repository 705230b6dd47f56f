"""Benchmark harness: a freshly migrated `qpeapay_bench` database, a small context, and every
`tests/perf/bench_*.py` module that defines `async def run(ctx) -> list[str]`, run in turn.

PostgreSQL and Redis come from DATABASE_URL / REDIS_URL when set, embedded servers under
var/bench otherwise (as in the test suite). Each bench starts on empty tables. Benches
print throughput and ratios measured within this one run; they never assert timing.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import pkgutil
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.db import create_engine, create_sessionmaker
from backend.dev import embedded
from backend.dev.database import ensure_database, migrate, with_database
from backend.settings import Environment, Settings

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "bench_"
# Like the test suite's: lets several people share one PostgreSQL without colliding.
NAMESPACE = os.environ.get("QPEAPAY_TEST_NAMESPACE", "")


@dataclass
class BenchContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis


Bench = Callable[[BenchContext], Awaitable[list[str]]]


def services() -> AbstractContextManager[tuple[str, str]]:
    """PostgreSQL and Redis base URLs: the configured ones, or embedded servers."""
    return embedded.configured_or_embedded(ROOT / "var" / "bench")


def discover(names: list[str]) -> list[tuple[str, Bench]]:
    """Every bench module (or those named, with or without the `bench_` prefix)."""
    wanted = {name.removeprefix(PREFIX) for name in names}
    found: list[tuple[str, Bench]] = []
    package = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda m: m.name):
        short = info.name.removeprefix(PREFIX)
        if not info.name.startswith(PREFIX) or (wanted and short not in wanted):
            continue
        module: ModuleType = importlib.import_module(f"tests.perf.{info.name}")
        run = getattr(module, "run", None)
        if run is not None and inspect.iscoroutinefunction(run):
            found.append((short, run))
    missing = wanted - {name for name, _ in found}
    if missing:
        raise SystemExit(f"no bench module with `async def run(ctx)` for: {sorted(missing)}")
    return found


async def _empty_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version'"
                )
            )
        ).scalars()
        listed = ", ".join(f'"{table}"' for table in tables)
        if listed:
            await conn.execute(text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))


async def run_all(settings: Settings, benches: list[tuple[str, Bench]]) -> None:
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    redis = Redis.from_url(settings.redis_url)
    ctx = BenchContext(settings, engine, create_sessionmaker(engine), redis)
    try:
        for name, bench in benches:
            await _empty_tables(engine)
            started = time.perf_counter()
            lines = await bench(ctx)
            for line in lines:
                print(f"{name}: {line}", flush=True)
            print(f"{name}: ({time.perf_counter() - started:.1f} s)", flush=True)
    finally:
        await redis.aclose()
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf", description=__doc__)
    parser.add_argument("names", nargs="*", help="bench names (default: all)")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    benches = discover(args.names)
    with services() as (database, redis):
        url = with_database(database, f"qpeapay_bench{NAMESPACE}")
        ensure_database(url, drop=True)
        migrate(url)
        settings = Settings(
            environment=Environment.test,
            database_url=url,
            redis_url=redis,
            log_level="WARNING",
            database_pool_size=8,
        )
        asyncio.run(run_all(settings, benches))
    return 0
