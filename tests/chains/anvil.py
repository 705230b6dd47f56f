"""Chain fixtures shared by every area's tests (a pytest plugin, see tests/conftest.py).

- `anvil`: one real anvil node per test session on a free loopback port, stopped at the end.
- `usdt`: our TestUSDT deployed on it, 1,000,000 USDT minted to `payer` (anvil dev account 0).
- `ethereum`: an EthereumConnector on that node and token, with fast retries.
- `master_seed`: a fresh master seed (random mnemonic) in the emptied test database.

`mined(ethereum, txid)` waits for a transaction's receipt: anvil mines a transaction as it
arrives, but its receipt is readable only once that block is sealed, so a read straight
after `broadcast` may find nothing yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from backend.connectors.ethereum.client import EthereumConnector, EthReceipt
from backend.db import unit_of_work
from backend.keys import signer
from backend.runtime import Runtime
from backend.sandbox.anvil import DEV_ACCOUNT, DEV_ACCOUNT_KEY, Anvil, start_anvil
from backend.sandbox.ethereum import deploy_test_usdt


@dataclass(frozen=True)
class Payer:
    """A funded dev account outside our keys: plays the customer who pays us."""

    address: str
    private_key: str


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    node = start_anvil()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def payer() -> Payer:
    return Payer(DEV_ACCOUNT, DEV_ACCOUNT_KEY)


@pytest.fixture(scope="session")
async def usdt(anvil: Anvil, payer: Payer) -> str:
    return await deploy_test_usdt(anvil.rpc_url, payer.private_key)


@pytest.fixture(scope="session")
async def ethereum(anvil: Anvil, usdt: str) -> AsyncIterator[EthereumConnector]:
    connector = EthereumConnector(anvil.rpc_url, usdt, chunk_blocks=50, backoff_s=0.01)
    yield connector
    await connector.aclose()


@pytest.fixture
async def master_seed(runtime: Runtime) -> signer.SeedInfo:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await signer.create_seed(session, runtime.settings)


async def mined(ethereum: EthereumConnector, txid: str, within_s: float = 15.0) -> EthReceipt:
    """The receipt of `txid` once a block holds it, or AssertionError after `within_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while (receipt := await ethereum.receipt(txid)) is None:
        if loop.time() > deadline:
            raise AssertionError(f"{txid} was not mined within {within_s} s")
        await asyncio.sleep(0.02)
    return receipt
