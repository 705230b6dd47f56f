"""The chain watchers of a worker process: which networks, on which connectors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from backend.chains.readiness import watched_networks
from backend.chains.watcher import Watcher
from backend.connectors.bitcoin import BitcoinConnector
from backend.connectors.chain import ChainConnector
from backend.connectors.tron import TronConnector
from backend.runtime import Runtime
from contract.money import Network


@asynccontextmanager
async def open_watchers(runtime: Runtime) -> AsyncIterator[list[Watcher]]:
    """A watcher per watched network, on its own connector (Ethereum's is the process's),
    closed when the block ends."""
    async with AsyncExitStack() as stack:
        watchers = []
        for network in watched_networks(runtime.settings):
            connector: ChainConnector
            if network is Network.ethereum:
                connector = runtime.chains.require_ethereum()
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
