"""The process's chain connectors: one typed slot per network, filled once at start-up.

Ethereum's is opened only where USDT is configured (without ETHEREUM_USDT_CONTRACT there is
no Ethereum in the deployment); Bitcoin's and Tron's always are. Nothing connects when they
are opened: each reaches its node on first use, so a node that is down delays only what
needs it. They are closed when the block that opened them ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from backend.connectors.bitcoin import BitcoinConnector
from backend.connectors.chain import ChainConnector
from backend.connectors.ethereum.client import EthereumConnector
from backend.connectors.tron import TronConnector
from backend.errors import ServiceUnavailable
from backend.settings import Settings
from contract.money import Network

C = TypeVar("C")


@dataclass
class ChainConnectors:
    """One connector per network this process talks to; None where it has none."""

    bitcoin: BitcoinConnector | None = None
    ethereum: EthereumConnector | None = None
    tron: TronConnector | None = None

    def get(self, network: Network) -> ChainConnector | None:
        found: ChainConnector | None = {
            Network.bitcoin: self.bitcoin,
            Network.ethereum: self.ethereum,
            Network.tron: self.tron,
        }[network]
        return found

    def require(self, network: Network) -> ChainConnector:
        """The connector for `network`, or ServiceUnavailable (503)."""
        return _present(self.get(network), network)

    def require_bitcoin(self) -> BitcoinConnector:
        return _present(self.bitcoin, Network.bitcoin)

    def require_ethereum(self) -> EthereumConnector:
        return _present(self.ethereum, Network.ethereum)

    def require_tron(self) -> TronConnector:
        return _present(self.tron, Network.tron)


def _present(connector: C | None, network: Network) -> C:
    if connector is None:
        raise ServiceUnavailable(f"{network.title()} is not enabled on this deployment.")
    return connector


@asynccontextmanager
async def open_chain_connectors(settings: Settings) -> AsyncIterator[ChainConnectors]:
    """Every network's connector this deployment runs, closed when the block ends."""
    async with AsyncExitStack() as stack:
        ethereum = None
        if settings.ethereum_usdt_contract:
            ethereum = EthereumConnector.from_settings(settings)
            stack.push_async_callback(ethereum.aclose)
        bitcoin = BitcoinConnector.from_settings(settings)
        stack.push_async_callback(bitcoin.aclose)
        tron = TronConnector.from_settings(settings)
        stack.push_async_callback(tron.aclose)
        yield ChainConnectors(bitcoin=bitcoin, ethereum=ethereum, tron=tron)
