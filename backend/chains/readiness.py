"""The /readyz probe of each watched network: it reads the network's cursor row, so every
process (the API too) reports the watcher a worker runs: down when its node is failing,
when no tick succeeded yet, or when the last one is stale.

Ethereum is watched only where USDT is configured (as its connector is opened only then).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.chains.models import ChainCursor
from backend.settings import Settings
from contract.money import Network

Probe = Callable[[], Awaitable[str]]


def watched_networks(settings: Settings) -> list[Network]:
    return [
        network
        for network in settings.chain_watchers
        if network is not Network.ethereum or settings.ethereum_usdt_contract
    ]


def probe_name(network: Network) -> str:
    return f"{network}_watcher"


def watcher_probe(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, network: Network
) -> Probe:
    async def probe() -> str:
        now = func.now()
        async with sessionmaker() as session:
            row = (
                await session.execute(
                    select(
                        func.extract("epoch", now - ChainCursor.ticked_at).label("idle_s"),
                        func.extract("epoch", now - ChainCursor.failing_since).label("failing_s"),
                        ChainCursor.last_error,
                    ).where(ChainCursor.network == network)
                )
            ).one_or_none()
        if row is None:
            return "down: no tick yet"
        if row.failing_s is not None:
            return f"down: {row.last_error} for {row.failing_s:.0f}s"
        if row.idle_s > settings.chain_watcher_stale_after_s:
            return f"down: last tick {row.idle_s:.0f}s ago"
        return "ok"

    return probe


def watcher_probes(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> dict[str, Probe]:
    """One probe per watched network, named `<network>_watcher`."""
    return {
        probe_name(network): watcher_probe(sessionmaker, settings, network)
        for network in watched_networks(settings)
    }
