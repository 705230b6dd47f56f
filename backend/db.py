"""Engine, declarative base, and the unit of work: one transaction per request or job.

Services receive a session and never commit; `unit_of_work` commits on success, rolls
back on error, and only then runs the after-commit hooks (job enqueues, notifications).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, MetaData, event, func
from sqlalchemy.exc import DisconnectionError
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


# A pooled connection idle longer than this is pinged before use; a busier one is not.
PING_AFTER_IDLE_S = 2.0


def create_engine(
    url: str,
    pool_size: int = 10,
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
    pool_timeout_s: float = 10.0,
) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout_s,
        connect_args={"server_settings": {"application_name": "qpeapay", "timezone": "UTC"}},
    )
    _ping_idle_connections(engine, ping_after_idle_s)
    return engine


def _ping_idle_connections(engine: AsyncEngine, after_s: float) -> None:
    """Check a connection is alive before use only when it sat idle, not on every checkout.

    A ping is a round trip: on every checkout (SQLAlchemy's pool_pre_ping) it was one in
    four of a ledger post's. A connection that was just in use is alive, or died with the
    server moments ago; then its error invalidates the whole pool, so only statements
    already in flight fail. A dead connection found by the ping is replaced at once.
    """
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since < after_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failed ping: the pool retries on a new connection
            raise DisconnectionError("pooled connection failed its ping") from exc


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
