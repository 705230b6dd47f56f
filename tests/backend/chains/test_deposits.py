"""What the wallet API reads: pending totals per (asset, network) and the deposit history,
paged newest first with confirmations counted from the watcher's cursor; and what the
service records (nothing for zero-value spam, nothing new for a second sight)."""

from __future__ import annotations

import os

from backend.chains import deposits, service
from backend.chains.models import ChainCursor
from backend.connectors.chain import BlockRef, Transfer
from backend.db import unit_of_work
from backend.keys.models import ChainAddress
from contract.deposits import PaymentStatus
from contract.money import Asset, Money, Network
from tests.backend.chains.conftest import Chains, btc, usdt


def _transfer(
    address: ChainAddress, amount: Money, height: int | None = None, *, succeeded: bool = True
) -> Transfer:
    block = None if height is None else BlockRef(height, f"h{height}", f"h{height - 1}")
    return Transfer(
        network=Network(address.network),
        txid=os.urandom(32).hex(),
        index=0,
        to_address=address.address,
        amount=amount,
        block=block,
        succeeded=succeeded,
    )


async def test_pending_totals_count_seen_deposits_per_asset_and_network(chains: Chains) -> None:
    tron = await chains.address(Network.tron)
    owner = tron.owner_id
    assert owner is not None
    eth = await chains.address(Network.ethereum, owner)
    someone_else = await chains.address(Network.tron)
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        for address, amount, ok in (
            (tron, usdt("5"), True),
            (tron, usdt("2.5"), True),
            (tron, usdt("100"), False),  # reverted: never pending, never credited
            (eth, usdt("1"), True),
            (someone_else, usdt("9"), True),
        ):
            await service.record(session, _transfer(address, amount, 10, succeeded=ok), address, 1)
        totals = await deposits.pending_totals(session, owner)

    assert totals == {
        (Asset.USDT, Network.tron): usdt("7.5"),
        (Asset.USDT, Network.ethereum): usdt("1"),
    }


async def test_history_is_newest_first_paged_filtered_and_counts_from_the_cursor(
    chains: Chains,
) -> None:
    btc_address = await chains.address(Network.bitcoin)
    owner = btc_address.owner_id
    assert owner is not None
    tron_address = await chains.address(Network.tron, owner)
    recorded = []
    for address, amount, height in (
        (btc_address, btc("0.1"), 100),
        (tron_address, usdt("3"), 200),
        (btc_address, btc("0.2"), None),  # still in the mempool
    ):
        async with unit_of_work(chains.runtime.sessionmaker) as session:
            payment = await service.record(session, _transfer(address, amount, height), address, 2)
            assert payment is not None
            recorded.append(payment.id)
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        session.add(ChainCursor(network="bitcoin", height=104, hash="h104", tip_height=104))
        session.add(ChainCursor(network="tron", height=200, hash="h200", tip_height=200))

    async with unit_of_work(chains.runtime.sessionmaker) as session:
        first = await deposits.list_deposits(session, owner, limit=2)
        rest = await deposits.list_deposits(
            session, owner, limit=2, before=(first[-1].created_at, first[-1].id)
        )
        bitcoin_only = await deposits.list_deposits(session, owner, network=Network.bitcoin)
        usdt_only = await deposits.list_deposits(session, owner, asset=Asset.USDT)
        nobody = await deposits.list_deposits(session, "usr_nobody")

    assert [d.id for d in first + rest] == recorded[::-1]
    assert [(d.status, d.confirmations, d.block_height) for d in first + rest] == [
        (PaymentStatus.seen, 0, None),
        (PaymentStatus.seen, 1, 200),
        (PaymentStatus.seen, 5, 100),
    ]
    assert first[1].required_confirmations == 2 and first[1].amount == usdt("3")
    assert [d.id for d in bitcoin_only] == [recorded[2], recorded[0]]
    assert [d.id for d in usdt_only] == [recorded[1]]
    assert nobody == []


async def test_zero_value_spam_is_not_recorded_and_a_second_sight_changes_nothing(
    chains: Chains,
) -> None:
    address = await chains.address(Network.ethereum)
    transfer = _transfer(address, usdt("4"), 7)
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        assert await service.record(session, _transfer(address, usdt("0"), 7), address, 1) is None
        assert await service.record(session, transfer, address, 1) is not None
        assert await service.record(session, transfer, address, 1) is None
    (payment,) = await chains.payments()
    assert await chains.events(payment.id) == ["deposit.seen"]
