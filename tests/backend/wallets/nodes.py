"""Fixtures giving the API process real nodes to send through: the Bitcoin Core and Tron
stand-ins (one each per session, over HTTP) and the session's anvil, put in the
runtime's connector slots in place of the process's own, and put back afterwards.

Import the fixtures into a conftest: `from tests.backend.wallets.nodes import *`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from backend.connectors.bitcoin import BitcoinConnector
from backend.connectors.ethereum.client import EthereumConnector
from backend.connectors.tron import TronConnector
from backend.runtime import Runtime
from tests.backend.connectors.bitcoin.conftest import Bitcoind, connector_for
from tests.backend.connectors.tron.conftest import Trond, tron_connector_for
from tests.chains.anvil import Anvil


@pytest.fixture(scope="session")
def bitcoin_node() -> Iterator[Bitcoind]:
    node = Bitcoind()
    yield node
    node.close()


@pytest.fixture(scope="session")
def tron_node() -> Iterator[Trond]:
    node = Trond()
    yield node
    node.close()


@dataclass
class Nodes:
    bitcoind: Bitcoind
    trond: Trond
    anvil: Anvil
    bitcoin: BitcoinConnector
    tron: TronConnector
    ethereum: EthereumConnector


@pytest.fixture
async def nodes(
    runtime: Runtime,
    bitcoin_node: Bitcoind,
    tron_node: Trond,
    anvil: Anvil,
    ethereum: EthereumConnector,
) -> AsyncIterator[Nodes]:
    """Every network's connector in `runtime.chains`, on the stand-ins and anvil."""
    bitcoin = connector_for(bitcoin_node.rpc_url)
    tron = tron_connector_for(tron_node.api_url)
    before = dataclasses.replace(runtime.chains)
    runtime.chains.bitcoin, runtime.chains.tron, runtime.chains.ethereum = bitcoin, tron, ethereum
    try:
        yield Nodes(bitcoin_node, tron_node, anvil, bitcoin, tron, ethereum)
    finally:
        runtime.chains.bitcoin, runtime.chains.tron = before.bitcoin, before.tron
        runtime.chains.ethereum = before.ethereum
        await tron.aclose()
