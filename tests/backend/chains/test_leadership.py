"""One watcher per network across processes: the advisory lock lets one work and the other
stand by, a leader whose connection dies can write nothing more, and a standby takes over."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.chains.leader import LOCK_CLASS, LOCK_IDS
from backend.connectors.bitcoin import BitcoinConnector
from backend.db import unit_of_work
from contract.deposits import PaymentStatus
from contract.money import Asset, Network
from tests.backend.chains.conftest import Chains, MakeWatcher, btc, until
from tests.backend.connectors.bitcoin.conftest import Bitcoind


async def test_a_second_watcher_of_the_same_network_stands_by(
    chains: Chains, bitcoind: Bitcoind, bitcoin: BitcoinConnector, make_watcher: MakeWatcher
) -> None:
    address = await chains.address(Network.bitcoin)
    leader, standby = make_watcher(bitcoin), make_watcher(bitcoin)

    assert (await leader.tick()).leading
    bitcoind.pay(address.address, "0.01")
    assert (await standby.tick()).leading is False
    assert await chains.count_payments() == 0

    assert (await leader.tick()).recorded == 1
    await leader.leadership.release()
    taken = await standby.tick()

    assert taken.leading and taken.recorded == 0  # the leader's work is not done twice
    assert (await leader.tick()).leading is False


async def test_two_running_watchers_credit_a_deposit_once(
    chains: Chains, bitcoind: Bitcoind, bitcoin: BitcoinConnector, make_watcher: MakeWatcher
) -> None:
    address = await chains.address(Network.bitcoin)
    assert address.owner_id is not None
    first, second = make_watcher(bitcoin), make_watcher(bitcoin)
    tasks = [asyncio.create_task(w.run()) for w in (first, second)]
    try:

        async def placed() -> bool:  # the first tick puts the cursor at the tip
            return await chains.cursor(Network.bitcoin) is not None

        await until(placed)
        txid = bitcoind.pay(address.address, "0.2")
        bitcoind.mine(1)

        async def credited() -> bool:
            return (await chains.available(address.owner_id or "", Asset.BTC)) == btc("0.2")

        await until(credited)
        assert [first.leadership.held, second.leadership.held].count(True) == 1
        # Let both run on past the credit: the leader scans two more blocks (a second credit
        # by either watcher would show below).
        for _ in range(2):
            bitcoind.mine(1)
            tip = (await bitcoin.tip()).height

            async def scanned(height: int = tip) -> bool:
                cursor = await chains.cursor(Network.bitcoin)
                return cursor is not None and cursor.height >= height

            await until(scanned)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert not first.leadership.held and not second.leadership.held
    payment = await chains.payment(txid)
    assert payment.state is PaymentStatus.confirmed and payment.credit_count == 1
    assert await chains.available(address.owner_id, Asset.BTC) == btc("0.2")


async def test_a_leader_that_lost_its_connection_writes_nothing_and_a_standby_takes_over(
    chains: Chains, bitcoind: Bitcoind, bitcoin: BitcoinConnector, make_watcher: MakeWatcher
) -> None:
    address = await chains.address(Network.bitcoin)
    leader, standby = make_watcher(bitcoin), make_watcher(bitcoin)
    await leader.tick()
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        await session.execute(
            text(
                # Only this database's: other test workers run leaders of their own.
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid = :class AND objid = :id"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"class": LOCK_CLASS, "id": LOCK_IDS[Network.bitcoin]},
        )
    bitcoind.pay(address.address, "0.03")

    with pytest.raises(DBAPIError):
        await leader.tick()
    assert not leader.leadership.held

    taken = await standby.tick()
    assert taken.leading and taken.recorded == 1
    assert (await leader.tick()).leading is False
