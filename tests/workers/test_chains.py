"""The worker's chain loops for real: built from settings, watchers follow the stand-ins and
anvil, credit deposits, and stop with the worker, giving their locks back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from backend.chains.leader import LOCK_CLASS
from backend.db import unit_of_work
from backend.keys.signer import SeedInfo
from backend.runtime import Runtime, open_runtime
from backend.sandbox.anvil import Anvil
from backend.sandbox.ethereum import send_test_usdt
from backend.settings import Settings
from contract.money import Asset, Network
from tests.backend.chains.conftest import Chains, btc, until
from tests.backend.chains.conftest import usdt as usdt_amount
from tests.backend.connectors.bitcoin.conftest import Bitcoind
from tests.backend.connectors.tron.conftest import Trond
from tests.chains.anvil import Payer
from workers import chains as chain_loops
from workers import main


@pytest.fixture
def bitcoind() -> Iterator[Bitcoind]:
    node = Bitcoind()
    yield node
    node.close()


@pytest.fixture
def trond() -> Iterator[Trond]:
    node = Trond()
    yield node
    node.close()


async def test_the_worker_runs_a_watcher_per_network_until_stopped(
    settings: Settings, runtime: Runtime, master_seed: SeedInfo, bitcoind: Bitcoind
) -> None:
    chains = Chains(runtime)
    address = await chains.address(Network.bitcoin)
    owner = address.owner_id or ""
    watched = settings.model_copy(
        update={
            "chain_watchers": [Network.bitcoin],
            "bitcoin_rpc_url": bitcoind.rpc_url,
            "chain_poll_interval_s": 0.05,
        }
    )

    async def placed() -> bool:
        return await chains.cursor(Network.bitcoin) is not None

    async def credited() -> bool:
        return await chains.available(owner, Asset.BTC) == btc("0.9")

    async with open_runtime(watched) as runtime:
        async with chain_loops.running(runtime) as tasks:
            assert [task.get_name() for task in tasks] == ["chains.watch.bitcoin"]
            await until(placed)
            bitcoind.pay(address.address, "0.9")
            bitcoind.mine(1)
            await until(credited)
        assert all(task.done() for task in tasks)

    async with unit_of_work(runtime.sessionmaker) as session:
        held = await session.scalar(
            # Only this database's locks: other test workers hold leaderships of their own.
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :c"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"c": LOCK_CLASS},
        )
    assert held == 0


async def test_a_started_worker_credits_deposits_on_all_three_networks(
    settings: Settings,
    runtime: Runtime,
    master_seed: SeedInfo,
    bitcoind: Bitcoind,
    trond: Trond,
    anvil: Anvil,
    usdt: str,
    payer: Payer,
) -> None:
    """What `make run` does: the worker opens the process's connectors and runs a watcher
    per network, each paying into the same customer's wallets."""
    chains = Chains(runtime)
    btc_address = await chains.address(Network.bitcoin)
    owner = btc_address.owner_id or ""
    eth_address = await chains.address(Network.ethereum, owner)
    tron_address = await chains.address(Network.tron, owner)
    watched = settings.model_copy(
        update={
            "chain_watchers": list(Network),
            "chain_poll_interval_s": 0.1,
            "bitcoin_rpc_url": bitcoind.rpc_url,
            "tron_api_url": trond.api_url,
            "ethereum_rpc_url": anvil.rpc_url,
            "ethereum_usdt_contract": usdt,
        }
    )

    async def following() -> bool:
        return all([await chains.cursor(network) is not None for network in Network])

    async def credited() -> bool:
        return await chains.available(owner, Asset.BTC) == btc("0.05") and await chains.available(
            owner, Asset.USDT
        ) == usdt_amount("30")

    ctx: dict[str, Any] = {"settings": watched}
    await main.startup(ctx)
    try:
        await until(following)
        bitcoind.pay(btc_address.address, "0.05")
        bitcoind.mine(1)
        await send_test_usdt(
            anvil.rpc_url, payer.private_key, usdt, eth_address.address, usdt_amount("10")
        )
        trond.pay(tron_address.address, "20")
        trond.mine(20)  # the solid head passes the payment's block
        await until(credited, timeout_s=20)
    finally:
        await main.shutdown(ctx)
