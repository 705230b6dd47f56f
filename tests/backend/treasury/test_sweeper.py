"""The sweeper end to end: a customer's deposit is seen and credited by the real watcher,
then swept from the deposit address to the hot wallet (after a gas top-up on Ethereum and
Tron), every fee posted to the ledger once, and the hot-wallet accounts equal to what all
our addresses hold on chain. Running it again changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from backend import queue
from backend.chains.watcher import Watcher
from backend.connectors.chain import ChainConnector
from backend.db import unit_of_work
from backend.keys import service as keys
from backend.keys import signer
from backend.ledger import service as ledger
from backend.ledger.models import LedgerTransaction, Purpose
from backend.runtime import Runtime
from backend.sandbox.ethereum import send_ether, send_test_usdt
from backend.treasury import sweeper
from backend.treasury.models import OutboundTx, Sweep
from contract.money import Asset, Money, Network
from tests.backend.wallets.nodes import Nodes
from tests.backend.wallets.support import available, books_balance
from tests.chains.anvil import Payer
from tests.identity import Account


@pytest.fixture(autouse=True)
def _seeded(master_seed: signer.SeedInfo) -> None:
    """Addresses come from a fresh seed."""


MakeWatcher = Callable[[ChainConnector], Awaitable[Watcher]]


@pytest.fixture
async def watcher(runtime: Runtime) -> AsyncIterator[MakeWatcher]:
    """A real chain watcher (one confirmation, as in dev), its lock given back afterwards."""
    made: list[Watcher] = []

    async def make(connector: ChainConnector) -> Watcher:
        found = Watcher(runtime, connector, confirmations=1, batch_blocks=50)
        made.append(found)
        await found.tick()  # the first tick puts its cursor at the tip
        return found

    yield make
    for found in made:
        await found.leadership.release()


async def deposit_address(api: httpx.AsyncClient, customer: Account, network: str) -> str:
    response = await api.get(f"/v1/wallets/{network}/address", headers=customer.headers)
    address: str = response.json()["address"]
    return address


async def hot_wallet(runtime: Runtime, network: Network) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        return (await keys.hot_wallet(session, runtime.settings, network)).address


async def own_money(runtime: Runtime, amount: str, asset: Asset, network: Network) -> None:
    """Our own coins on a hot wallet (gas money): hot wallet account → treasury."""
    async with unit_of_work(runtime.sessionmaker) as session:
        hot = await ledger.system_account(session, Purpose.hot_wallet, asset, network)
        ours = await ledger.system_account(session, Purpose.treasury, asset)
        await ledger.post(
            session,
            f"test-fund:{network}:{asset}",
            ledger.transfer(hot.id, ours.id, Money.of(amount, asset)),
        )


async def plan(runtime: Runtime) -> list[str]:
    async with unit_of_work(runtime.sessionmaker) as session:
        queue.bind(session, runtime.queue)
        return await sweeper.plan(session, runtime)


async def sweep_to_the_end(
    runtime: Runtime, sweep_id: str, mine: Callable[[], object] | None = None
) -> Sweep:
    """Run the sweep job until it rests; mine a block whenever it waits for one."""
    for _ in range(20):
        async with unit_of_work(runtime.sessionmaker) as session:
            queue.bind(session, runtime.queue)
            moved = await sweeper.advance(session, runtime, sweep_id)
            row = await session.get(Sweep, sweep_id)
            assert row is not None
        if row.status in ("confirmed", "failed"):
            return row
        if not moved and mine is not None:
            mine()
    raise AssertionError(f"sweep {sweep_id} is still {row.status}")


async def hot_account(runtime: Runtime, asset: Asset, network: Network) -> Decimal:
    async with unit_of_work(runtime.sessionmaker) as session:
        account = await ledger.system_account(session, Purpose.hot_wallet, asset, network)
        return (await ledger.balance(session, account.id)).amount


async def fee_journals(runtime: Runtime, sweep_id: str) -> int:
    async with unit_of_work(runtime.sessionmaker) as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.reference == sweep_id)
            )
            or 0
        )


async def test_usdt_on_ethereum_is_swept_after_a_gas_top_up(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str,
    customer: Account, watcher: MakeWatcher,
) -> None:  # fmt: skip
    deposit = await deposit_address(api, customer, "ethereum")
    watching = await watcher(nodes.ethereum)
    await send_test_usdt(nodes.anvil.rpc_url, payer.private_key, usdt, deposit,
                         Money.of("150", "USDT"))  # fmt: skip
    await watching.tick()
    assert await available(api, customer, Asset.USDT) == 150  # the watcher credited it
    hot = await hot_wallet(runtime, Network.ethereum)
    await send_ether(nodes.anvil.rpc_url, payer.private_key, hot, Money.of("1", "ETH"))
    await own_money(runtime, "1", Asset.ETH, Network.ethereum)

    (sweep_id,) = await plan(runtime)
    done = await sweep_to_the_end(runtime, sweep_id)

    assert done.status == "confirmed" and done.gas_asset == "ETH"
    eth = nodes.ethereum
    assert await eth.balance(deposit, Asset.USDT) == Money.zero(Asset.USDT)
    assert await eth.balance(hot, Asset.USDT) == Money.of("150", "USDT")
    # Moving coins between our own addresses changes no balance; the two fees are posted.
    assert await available(api, customer, Asset.USDT) == 150
    assert -(await hot_account(runtime, Asset.USDT, Network.ethereum)) == 150
    on_chain = (await eth.balance(hot, Asset.ETH)).amount + (
        await eth.balance(deposit, Asset.ETH)
    ).amount
    assert -(await hot_account(runtime, Asset.ETH, Network.ethereum)) == on_chain
    assert await fee_journals(runtime, sweep_id) == 2  # the top-up's fee and the sweep's
    await books_balance(runtime)
    # Nothing new arrived: nothing to plan, and the open sweep's job has nothing left to do.
    await watching.tick()  # sees the sweep land on the hot wallet: no claim, no credit
    assert await plan(runtime) == []
    again = await sweep_to_the_end(runtime, sweep_id)
    assert (again.status, again.updated_at) == (done.status, done.updated_at)
    assert await available(api, customer, Asset.USDT) == 150
    async with unit_of_work(runtime.sessionmaker) as session:
        sends = await session.scalar(select(func.count()).select_from(OutboundTx))
    assert sends == 2


async def test_btc_is_swept_whole_with_the_fee_taken_from_the_coins(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account,
    watcher: MakeWatcher,
) -> None:  # fmt: skip
    deposit = await deposit_address(api, customer, "bitcoin")
    watching = await watcher(nodes.bitcoin)
    nodes.bitcoind.pay(deposit, "0.002")
    nodes.bitcoind.mine(1)
    await watching.tick()
    assert await available(api, customer, Asset.BTC) == Decimal("0.002")
    hot = await hot_wallet(runtime, Network.bitcoin)

    (sweep_id,) = await plan(runtime)
    done = await sweep_to_the_end(runtime, sweep_id, lambda: nodes.bitcoind.mine(1))

    assert done.status == "confirmed" and done.gas_amount is None
    assert await nodes.bitcoin.unspent([deposit]) == []
    swept = sum(coin.sats for coin in await nodes.bitcoin.unspent([hot]))
    async with unit_of_work(runtime.sessionmaker) as session:
        fee = await session.scalar(
            select(OutboundTx.fee).where(OutboundTx.reference_id == sweep_id)
        )
    assert fee is not None and 0 < fee < Decimal("0.0001")
    assert swept == 200_000 - fee * 10**8  # everything, less the miner's fee
    assert -(await hot_account(runtime, Asset.BTC, Network.bitcoin)) == Decimal(swept) / 10**8
    assert await available(api, customer, Asset.BTC) == Decimal("0.002")
    await books_balance(runtime)


async def test_usdt_on_tron_is_swept_after_a_trx_top_up(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account,
    watcher: MakeWatcher,
) -> None:  # fmt: skip
    deposit = await deposit_address(api, customer, "tron")
    watching = await watcher(nodes.tron)
    nodes.trond.pay(deposit, "30")
    nodes.trond.mine(20)  # a Tron deposit counts once its block is solidified (19 deep)
    await watching.tick()
    assert await available(api, customer, Asset.USDT) == 30
    hot = await hot_wallet(runtime, Network.tron)
    nodes.trond.pay(hot, "200", asset="TRX")
    nodes.trond.mine(1)
    await own_money(runtime, "200", Asset.TRX, Network.tron)

    (sweep_id,) = await plan(runtime)
    done = await sweep_to_the_end(runtime, sweep_id, lambda: nodes.trond.mine(1))

    assert done.status == "confirmed" and done.gas_asset == "TRX"
    assert await nodes.tron.balance(hot, Asset.USDT) == Money.of("30", "USDT")
    assert await nodes.tron.balance(deposit, Asset.USDT) == Money.zero(Asset.USDT)
    on_chain = (await nodes.tron.balance(hot, Asset.TRX)).amount + (
        await nodes.tron.balance(deposit, Asset.TRX)
    ).amount
    assert -(await hot_account(runtime, Asset.TRX, Network.tron)) == on_chain
    assert -(await hot_account(runtime, Asset.USDT, Network.tron)) == 30
    await books_balance(runtime)


async def test_below_the_threshold_nothing_is_swept(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str,
    customer: Account, watcher: MakeWatcher,
) -> None:  # fmt: skip
    deposit = await deposit_address(api, customer, "ethereum")
    watching = await watcher(nodes.ethereum)
    await send_test_usdt(nodes.anvil.rpc_url, payer.private_key, usdt, deposit,
                         Money.of("0.999999", "USDT"))  # fmt: skip
    await watching.tick()

    assert await plan(runtime) == []
