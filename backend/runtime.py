"""Typed lifespan state: the long-lived clients one process shares across requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    queue: ArqRedis
    http: httpx.AsyncClient
    # Domain-owned long-lived objects (connectors, rate providers) keyed by their owner.
    extras: dict[str, Any] = field(default_factory=dict)
