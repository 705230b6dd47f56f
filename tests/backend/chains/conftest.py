"""Chain watcher fixtures: the Bitcoin and Tron stand-ins served over HTTP with the real
connectors, the session's anvil, our addresses from a fresh seed, and watchers to tick.

Watchers here count one confirmation (as dev and test deployments do) unless a test asks
for more, poll fast and give up on a dead node after two quick tries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.chains.models import ChainCursor, Payment
from backend.chains.watcher import Watcher
from backend.connectors.chain import ChainConnector
from backend.db import unit_of_work
from backend.events.models import Event
from backend.keys import service as keys
from backend.keys import signer
from backend.keys.models import AddressPurpose, ChainAddress
from backend.ledger import service as ledger
from backend.ledger.models import LedgerTransaction, Purpose
from backend.runtime import Runtime
from contract.ids import new_id
from contract.money import Asset, Money, Network
from tests.backend.connectors.bitcoin.conftest import bitcoin, bitcoind
from tests.backend.connectors.tron.conftest import tron, trond

# The connectors' own fixtures: the stand-ins and the real connectors pointed at them.
__all__ = ["bitcoin", "bitcoind", "tron", "trond"]

WATCHER_OPTIONS: dict[str, Any] = {
    "confirmations": 1,
    "poll_interval_s": 0.05,
    "batch_blocks": 5,
    "reorg_window": 32,
    "backoff_max_s": 0.2,
}
MakeWatcher = Callable[..., Watcher]


@pytest.fixture
async def make_watcher(runtime: Runtime) -> AsyncIterator[MakeWatcher]:
    """Watchers on the test's runtime; each gives its lock (and connection) back at the end."""
    made: list[Watcher] = []

    def make(connector: ChainConnector, **options: Any) -> Watcher:
        watcher = Watcher(runtime, connector, **(WATCHER_OPTIONS | options))
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        await watcher.leadership.release()


@dataclass
class Chains:
    """Our side of the chain in a test: addresses, balances, payments and events."""

    runtime: Runtime

    async def address(
        self,
        network: Network,
        owner_id: str | None = None,
        purpose: AddressPurpose = AddressPurpose.deposit,
    ) -> ChainAddress:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            if purpose is AddressPurpose.hot_wallet:
                return await keys.hot_wallet(session, self.runtime.settings, network)
            owner = owner_id or new_id("usr")
            return await keys.allocate(session, self.runtime.settings, network, purpose, owner)

    async def available(self, owner_id: str, asset: Asset) -> Money:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            account = await ledger.open_account(session, owner_id, asset)
            return await ledger.balance(session, account.id)

    async def hot_wallet(self, asset: Asset, network: Network) -> Money:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            account = await ledger.system_account(session, Purpose.hot_wallet, asset, network)
            return await ledger.balance(session, account.id)

    async def payments(self, network: Network | None = None) -> list[Payment]:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            query = select(Payment).order_by(Payment.created_at, Payment.id)
            if network is not None:
                query = query.where(Payment.network == network)
            return list(await session.scalars(query))

    async def payment(self, txid: str, index: int = 0) -> Payment:
        found = [p for p in await self.payments() if (p.txid, p.output_index) == (txid, index)]
        assert len(found) == 1, found
        return found[0]

    async def journals(self, reference: str) -> list[str]:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            rows = await session.scalars(
                select(LedgerTransaction.idempotency_key)
                .where(LedgerTransaction.reference == reference)
                .order_by(LedgerTransaction.created_at, LedgerTransaction.id)
            )
            return list(rows)

    async def events(self, subject_id: str) -> list[str]:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            rows = await session.scalars(
                select(Event.type).where(Event.subject_id == subject_id).order_by(Event.id)
            )
            return list(rows)

    async def reconciled(self) -> bool:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            return await ledger.reconcile(session) == []

    async def cursor(self, network: Network) -> ChainCursor | None:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            return await session.get(ChainCursor, network)

    async def count_payments(self) -> int:
        async with unit_of_work(self.runtime.sessionmaker) as session:
            return int(await session.scalar(select(func.count()).select_from(Payment)) or 0)


@pytest.fixture
async def chains(runtime: Runtime, master_seed: signer.SeedInfo) -> Chains:
    return Chains(runtime)


def btc(amount: str) -> Money:
    return Money.of(Decimal(amount), Asset.BTC)


def usdt(amount: str) -> Money:
    return Money.of(Decimal(amount), Asset.USDT)


async def until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Wait for `condition` (polled every 50 ms) or fail the test after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not await condition():  # noqa: ASYNC110 - polls the database: no event to await
            await asyncio.sleep(0.05)
