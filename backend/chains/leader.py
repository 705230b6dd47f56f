"""One watcher per network across every worker: a session-level PostgreSQL advisory lock.

The lock lives on one connection that the leader keeps, and every write of the leader goes
through that same connection. So a leader that lost its connection (and with it the lock)
cannot write anything more: there is never a moment with two writers. A standby simply
fails to take the lock and tries again later; when the leader's process dies, PostgreSQL
drops the lock with its connection and a standby takes over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from backend.db import unit_of_work
from backend.logs import get_logger
from contract.money import Network

log = get_logger(__name__)

# Advisory-lock namespace (two-int form) of the chain watchers; objid per network.
LOCK_CLASS = 0xC4A1
LOCK_IDS = {Network.bitcoin: 1, Network.ethereum: 2, Network.tron: 3}


class Leadership:
    """Holds (or tries to hold) the watcher lock of one network."""

    def __init__(self, engine: AsyncEngine, network: Network) -> None:
        self.engine = engine
        self.network = network
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    async def acquire(self) -> bool:
        """Take the lock if free; True while this process leads the network."""
        if self._conn is not None:
            return True
        conn = await self.engine.connect()
        try:
            taken = await conn.scalar(
                select(func.pg_try_advisory_lock(LOCK_CLASS, LOCK_IDS[self.network]))
            )
            await conn.commit()
        except BaseException:
            await conn.invalidate()
            await conn.close()
            raise
        if not taken:
            await conn.close()
            return False
        self._conn = conn
        log.info("chains.leading", network=self.network)
        return True

    async def release(self) -> None:
        """Give the lock up (also after a failure: a broken connection is discarded)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.rollback()
            await conn.scalar(select(func.pg_advisory_unlock(LOCK_CLASS, LOCK_IDS[self.network])))
            await conn.commit()
        except Exception:
            # Closing the server connection is what drops a session lock for certain;
            # returned to the pool, the connection would carry the lock to its next user.
            with suppress(Exception):
                await conn.invalidate()
        finally:
            with suppress(Exception):
                await conn.close()
        log.info("chains.standing_down", network=self.network)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A transaction on the lock's connection, with backend.db's unit-of-work rules
        (commit on success, rollback on error, then the after-commit hooks)."""
        if self._conn is None:
            raise RuntimeError(f"not leading {self.network}")
        sessions = async_sessionmaker(bind=self._conn, expire_on_commit=False)
        async with unit_of_work(sessions) as session:
            yield session
