"""A sweep the signer refuses (its fee above SIGNER_MAX_FEE) ends as failed, saying why,
instead of failing its job over and over; the coins stay where they are for a later plan."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from backend.db import unit_of_work
from backend.keys import signer
from backend.runtime import Runtime
from backend.treasury.models import OutboundTx
from contract.money import Asset
from tests.backend.treasury.test_sweeper import (
    MakeWatcher,
    deposit_address,
    plan,
    sweep_to_the_end,
    watcher,
)
from tests.backend.wallets.nodes import Nodes
from tests.backend.wallets.support import available
from tests.identity import Account

__all__ = ["watcher"]


@pytest.fixture(autouse=True)
def _seeded(master_seed: signer.SeedInfo) -> None:
    """Addresses come from a fresh seed."""


async def test_a_sweep_over_the_fee_cap_fails_once_and_moves_nothing(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account,
    watcher: MakeWatcher,
) -> None:  # fmt: skip
    deposit = await deposit_address(api, customer, "bitcoin")
    watching = await watcher(nodes.bitcoin)
    nodes.bitcoind.pay(deposit, "0.002")
    nodes.bitcoind.mine(1)
    await watching.tick()
    tight = runtime.settings.model_copy(
        update={"signer_max_fee": runtime.settings.signer_max_fee | {Asset.BTC: Decimal("1e-8")}}
    )
    refusing = dataclasses.replace(runtime, settings=tight)

    (sweep_id,) = await plan(refusing)
    done = await sweep_to_the_end(refusing, sweep_id)

    assert done.status == "failed" and done.failure is not None
    assert "refused to sign" in done.failure and "SIGNER_MAX_FEE" in done.failure
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(OutboundTx)) == 0
    assert sum(coin.sats for coin in await nodes.bitcoin.unspent([deposit])) == 200_000
    assert await available(api, customer, Asset.BTC) == Decimal("0.002")
