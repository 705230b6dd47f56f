"""Engine, declarative base, and the unit of work: one transaction per request or job.

Services receive a session and never commit; `unit_of_work` commits on success, rolls
back on error, and only then runs the after-commit hooks (job enqueues, notifications).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from backend.logs import get_logger

log = get_logger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


def one_of(column: str, values: Iterable[StrEnum]) -> str:
    """A CHECK expression keeping `column` to an enum's values (sorted: stable SQL text)."""
    return f"{column} IN ({', '.join(repr(str(value)) for value in sorted(values))})"


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": "qpeapay", "timezone": "UTC"}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


AfterCommit = Callable[[], Awaitable[Any]]
_HOOKS = "after_commit"


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run `hook` once the session's transaction has committed; dropped on rollback."""
    session.info.setdefault(_HOOKS, []).append(hook)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        try:
            async with session.begin():
                yield session
        except BaseException:
            session.info.pop(_HOOKS, None)
            raise
        hooks: list[AfterCommit] = session.info.pop(_HOOKS, [])
    for hook in hooks:
        try:
            await hook()
        except Exception:  # the commit stands; a lost nudge is recovered by polling
            log.exception("after_commit.failed", hook=getattr(hook, "__qualname__", "?"))
