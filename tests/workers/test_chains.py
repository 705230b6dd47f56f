"""The worker's chain loops for real: built from settings, a watcher follows the Bitcoin
stand-in, credits a deposit, and stops with the block, giving its lock back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from backend.chains.leader import LOCK_CLASS
from backend.db import unit_of_work
from backend.keys.signer import SeedInfo
from backend.runtime import Runtime, open_runtime
from backend.settings import Settings
from contract.money import Asset, Network
from tests.backend.chains.conftest import Chains, btc, until
from tests.backend.connectors.bitcoin.conftest import Bitcoind
from workers import chains as chain_loops
from workers import main


@pytest.fixture
def bitcoind() -> Iterator[Bitcoind]:
    node = Bitcoind()
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
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :c"),
            {"c": LOCK_CLASS},
        )
    assert held == 0


async def test_worker_startup_starts_the_watchers_and_shutdown_stops_them(
    settings: Settings, runtime: Runtime, bitcoind: Bitcoind
) -> None:
    chains = Chains(runtime)
    watched = settings.model_copy(
        update={"chain_watchers": [Network.bitcoin], "bitcoin_rpc_url": bitcoind.rpc_url}
    )

    async def placed() -> bool:
        return await chains.cursor(Network.bitcoin) is not None

    ctx: dict[str, Any] = {"settings": watched}
    await main.startup(ctx)
    try:
        await until(placed)
    finally:
        await main.shutdown(ctx)
