"""Process wiring of the chain watchers: which networks are watched, their connectors and
watchers (for the worker), and one /readyz probe per watched network (for every process).

A probe reads the network's cursor row, so the API reports the watcher a worker runs: down
when its node is failing, when no tick succeeded yet, or when the last one is stale.
Ethereum is watched only where USDT is configured (as its connector is opened only then).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from sqlalchemy import func, select

from backend.chains import deposits  # noqa: F401 - registers the wallet deposit claim
from backend.chains.models import ChainCursor
from backend.chains.watcher import Watcher
from backend.connectors.bitcoin import BitcoinConnector
from backend.connectors.chain import ChainConnector
from backend.connectors.ethereum import lifespan as ethereum
from backend.connectors.tron import TronConnector
from backend.runtime import Runtime
from backend.settings import Settings
from contract.money import Network


def watched_networks(settings: Settings) -> list[Network]:
    return [
        network
        for network in settings.chain_watchers
        if network is not Network.ethereum or settings.ethereum_usdt_contract
    ]


def probe_name(network: Network) -> str:
    return f"{network}_watcher"


def readiness_probe(runtime: Runtime, network: Network) -> Callable[[], Awaitable[str]]:
    async def probe() -> str:
        now = func.now()
        async with runtime.sessionmaker() as session:
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
        if row.idle_s > runtime.settings.chain_watcher_stale_after_s:
            return f"down: last tick {row.idle_s:.0f}s ago"
        return "ok"

    return probe


@asynccontextmanager
async def open_probes(runtime: Runtime) -> AsyncIterator[None]:
    """A lifespan hook: register the watched networks' readiness probes."""
    probes = runtime.extras.setdefault("readiness", {})
    for network in watched_networks(runtime.settings):
        probes[probe_name(network)] = readiness_probe(runtime, network)
    yield


@asynccontextmanager
async def open_watchers(runtime: Runtime) -> AsyncIterator[list[Watcher]]:
    """A watcher per watched network, on its own connector (Ethereum's is the process's),
    closed when the block ends."""
    async with AsyncExitStack() as stack:
        watchers = []
        for network in watched_networks(runtime.settings):
            connector: ChainConnector
            if network is Network.ethereum:
                connector = ethereum.connector(runtime)
            elif network is Network.bitcoin:
                bitcoin = BitcoinConnector.from_settings(runtime.settings)
                stack.push_async_callback(bitcoin.aclose)
                connector = bitcoin
            else:
                tron = TronConnector.from_settings(runtime.settings)
                stack.push_async_callback(tron.aclose)
                connector = tron
            watchers.append(Watcher.from_settings(runtime, connector))
        yield watchers
