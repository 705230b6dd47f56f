"""The Tron watcher against the java-tron stand-in through tronpy: a reverted transfer is
recorded and never credited, and a deposit waits for the solidified block however few
confirmations are configured; a reorg below the solid head takes it back."""

from __future__ import annotations

from backend.connectors.tron import TronConnector
from contract.deposits import PaymentStatus
from contract.money import Asset, Network
from tests.backend.chains.conftest import Chains, MakeWatcher, usdt
from tests.backend.connectors.tron.conftest import Trond

SOLID_LAG = 19  # the stand-in's (and java-tron's) distance from head to solidified block


async def test_a_reverted_transfer_is_recorded_as_failed_and_never_credited(
    chains: Chains, trond: Trond, tron: TronConnector, make_watcher: MakeWatcher
) -> None:
    address = await chains.address(Network.tron)
    assert address.owner_id is not None
    watcher = make_watcher(tron)
    await watcher.tick()

    txid = trond.fail(address.address, "100")
    trond.mine(1)
    await watcher.tick()
    trond.mine(SOLID_LAG + 1)
    await watcher.tick()

    payment = await chains.payment(txid)
    assert payment.state is PaymentStatus.failed and not payment.credited
    assert await chains.available(address.owner_id, Asset.USDT) == usdt("0")
    assert await chains.journals(payment.id) == []
    assert await chains.events(payment.id) == ["deposit.failed"]


async def test_a_deposit_is_confirmed_only_once_its_block_is_solidified(
    chains: Chains, trond: Trond, tron: TronConnector, make_watcher: MakeWatcher
) -> None:
    address = await chains.address(Network.tron)
    assert address.owner_id is not None
    watcher = make_watcher(tron, confirmations=1)
    await watcher.tick()
    txid = trond.pay(address.address, "12.5")
    trond.mine(1)

    await watcher.tick()
    trond.mine(SOLID_LAG - 1)
    await watcher.tick()

    payment = await chains.payment(txid)
    assert (payment.state, payment.confirmations) == (PaymentStatus.seen, SOLID_LAG)
    assert await chains.available(address.owner_id, Asset.USDT) == usdt("0")

    trond.mine(1)  # the payment's block is now the solid head
    await watcher.tick()

    payment = await chains.payment(txid)
    assert payment.state is PaymentStatus.confirmed and payment.credited
    assert await chains.available(address.owner_id, Asset.USDT) == usdt("12.5")


async def test_a_reorg_above_the_solid_head_drops_an_unconfirmed_deposit(
    chains: Chains, trond: Trond, tron: TronConnector, make_watcher: MakeWatcher
) -> None:
    address = await chains.address(Network.tron)
    watcher = make_watcher(tron)
    trond.mine(SOLID_LAG + 1)
    await watcher.tick()
    txid = trond.pay(address.address, "3")
    trond.mine(2)
    await watcher.tick()
    assert (await chains.payment(txid)).state is PaymentStatus.seen

    trond.reorg(2, drop=True)
    reorged = await watcher.tick()

    assert reorged.reorged == 1
    assert (await chains.payment(txid)).state is PaymentStatus.reorged
    assert await chains.events((await chains.payment(txid)).id) == [
        "deposit.seen",
        "deposit.reorged",
    ]
