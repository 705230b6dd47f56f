"""Process wiring of the connectors we send through: one per network in `runtime.extras`,
under the network's name (where the fee service reads its estimates too).

Ethereum's is opened by its own lifespan hook (only where USDT is configured); Bitcoin's and
Tron's are opened here unless someone registered one first. Nothing connects at start-up:
each connector reaches its node on first use, so a node that is down delays only what needs
it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

from backend.connectors.bitcoin import BitcoinConnector
from backend.connectors.chain import ChainConnector
from backend.connectors.ethereum.client import EthereumConnector
from backend.connectors.tron import TronConnector
from backend.errors import ServiceUnavailable
from backend.runtime import Runtime
from contract.money import Network

C = TypeVar("C")


@asynccontextmanager
async def open_connectors(runtime: Runtime) -> AsyncIterator[None]:
    """A lifespan hook: Bitcoin's and Tron's connectors for the life of the process."""
    async with AsyncExitStack() as stack:
        if Network.bitcoin.value not in runtime.extras:
            bitcoin = BitcoinConnector.from_settings(runtime.settings)
            stack.push_async_callback(bitcoin.aclose)
            runtime.extras[Network.bitcoin.value] = bitcoin
        if Network.tron.value not in runtime.extras:
            tron = TronConnector.from_settings(runtime.settings)
            stack.push_async_callback(tron.aclose)
            runtime.extras[Network.tron.value] = tron
        yield


def for_network(runtime: Runtime, network: Network) -> ChainConnector:
    """The process's connector for `network`."""
    found: ChainConnector | None = runtime.extras.get(network.value)
    if found is None:
        raise ServiceUnavailable(f"Sending on {network} is not enabled on this deployment.")
    return found


def connector(runtime: Runtime, network: Network, kind: type[C]) -> C:
    """The process's connector for `network`, of the class the caller needs."""
    found = for_network(runtime, network)
    if not isinstance(found, kind):
        raise ServiceUnavailable(f"Sending on {network} is not enabled on this deployment.")
    return found


def ethereum(runtime: Runtime) -> EthereumConnector:
    return connector(runtime, Network.ethereum, EthereumConnector)


def bitcoin(runtime: Runtime) -> BitcoinConnector:
    return connector(runtime, Network.bitcoin, BitcoinConnector)


def tron(runtime: Runtime) -> TronConnector:
    return connector(runtime, Network.tron, TronConnector)
