"""The Bitcoin watcher against the Core stand-in through the real connector: mempool sightings,
confirmation and one credit, RBF, reorgs back to the mempool and double spends, split
payments, and a node outage that skips no block."""

from __future__ import annotations

from sqlalchemy import update

from backend.chains import deposits
from backend.chains.models import Payment
from backend.chains.readiness import watcher_probe
from backend.connectors.bitcoin import BitcoinConnector
from backend.db import unit_of_work
from backend.ledger import service as ledger
from contract.deposits import PaymentStatus
from contract.money import Asset, Network
from tests.backend.chains.conftest import Chains, MakeWatcher, btc
from tests.backend.connectors.bitcoin.conftest import Bitcoind


async def test_a_payment_is_pending_in_the_mempool_then_credited_once_when_mined(
    chains: Chains,
    bitcoind: Bitcoind,
    bitcoin: BitcoinConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.bitcoin)
    owner = address.owner_id
    assert owner is not None
    watcher = make_watcher(bitcoin)
    await watcher.tick()  # the cursor starts at the tip

    txid = bitcoind.pay(address.address, "0.25")
    seen = await watcher.tick()

    payment = await chains.payment(txid)
    assert seen.recorded == 1
    assert (payment.state, payment.block_height, payment.amount) == (
        PaymentStatus.seen,
        None,
        btc("0.25").amount,
    )
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        assert await deposits.pending_totals(session, owner) == {
            (Asset.BTC, Network.bitcoin): btc("0.25")
        }
    assert await chains.available(owner, Asset.BTC) == btc("0")

    bitcoind.mine(1)
    mined = await watcher.tick()
    again = await watcher.tick()

    payment = await chains.payment(txid)
    assert mined.confirmed == 1 and again.confirmed == again.recorded == 0
    assert payment.state is PaymentStatus.confirmed and payment.credited
    assert payment.block_height == mined.tip
    assert await chains.available(owner, Asset.BTC) == btc("0.25")
    assert await chains.hot_wallet(Asset.BTC, Network.bitcoin) == btc("-0.25")
    assert await chains.journals(payment.id) == [f"deposit:bitcoin:{txid}:0:credit:1"]
    assert await chains.events(payment.id) == ["deposit.seen", "deposit.confirmed"]
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        assert await deposits.pending_totals(session, owner) == {}
        (row,) = await deposits.list_deposits(session, owner)
    assert (row.id, row.status, row.confirmations, row.txid) == (
        payment.id,
        PaymentStatus.confirmed,
        1,
        txid,
    )
    assert await chains.reconciled()


async def test_two_confirmations_wait_for_the_second_block(
    chains: Chains,
    bitcoind: Bitcoind,
    bitcoin: BitcoinConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.bitcoin)
    watcher = make_watcher(bitcoin, confirmations=2)
    await watcher.tick()
    txid = bitcoind.pay(address.address, "0.1")
    bitcoind.mine(1)

    await watcher.tick()
    payment = await chains.payment(txid)
    assert (payment.state, payment.confirmations, payment.required_confirmations) == (
        PaymentStatus.seen,
        1,
        2,
    )

    bitcoind.mine(1)
    await watcher.tick()
    payment = await chains.payment(txid)
    assert (payment.state, payment.confirmations) == (PaymentStatus.confirmed, 2)


async def test_an_rbf_replacement_replaces_the_original_and_credits_the_replacement_once(
    chains: Chains,
    bitcoind: Bitcoind,
    bitcoin: BitcoinConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.bitcoin)
    assert address.owner_id is not None
    watcher = make_watcher(bitcoin)
    await watcher.tick()
    original = bitcoind.pay(address.address, "0.02")
    await watcher.tick()

    replacement = bitcoind.replace(original, address.address, "0.015")
    replaced = await watcher.tick()

    assert replaced.replaced == 1
    assert (await chains.payment(original)).state is PaymentStatus.replaced
    assert (await chains.payment(replacement)).state is PaymentStatus.seen
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        pending = await deposits.pending_totals(session, address.owner_id)
    assert pending == {(Asset.BTC, Network.bitcoin): btc("0.015")}

    bitcoind.mine(1)
    await watcher.tick()
    await watcher.tick()

    first, second = await chains.payment(original), await chains.payment(replacement)
    assert first.state is PaymentStatus.replaced and not first.credited
    assert second.state is PaymentStatus.confirmed and second.credited
    assert await chains.available(address.owner_id, Asset.BTC) == btc("0.015")
    assert await chains.events(first.id) == ["deposit.seen", "deposit.replaced"]
    assert await chains.journals(first.id) == []


async def test_a_reorg_reverses_the_credit_and_the_remined_payment_is_credited_again(
    chains: Chains,
    bitcoind: Bitcoind,
    bitcoin: BitcoinConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.bitcoin)
    owner = address.owner_id
    assert owner is not None
    watcher = make_watcher(bitcoin)
    await watcher.tick()
    txid = bitcoind.pay(address.address, "0.003")
    bitcoind.mine(1)
    await watcher.tick()
    assert await chains.available(owner, Asset.BTC) == btc("0.003")

    bitcoind.reorg(1)  # the block leaves; its transaction goes back to the mempool
    reorged = await watcher.tick()

    payment = await chains.payment(txid)
    assert reorged.reorged == 1
    assert (payment.state, payment.block_height, payment.credited) == (
        PaymentStatus.seen,
        None,
        False,
    )
    assert await chains.available(owner, Asset.BTC) == btc("0")

    bitcoind.mine(1)
    await watcher.tick()

    payment = await chains.payment(txid)
    assert payment.state is PaymentStatus.confirmed and payment.credit_count == 2
    assert await chains.available(owner, Asset.BTC) == btc("0.003")
    assert await chains.journals(payment.id) == [
        f"deposit:bitcoin:{txid}:0:credit:1",
        f"deposit:bitcoin:{txid}:0:reverse:1",
        f"deposit:bitcoin:{txid}:0:credit:2",
    ]
    assert await chains.events(payment.id) == [
        "deposit.seen",
        "deposit.confirmed",
        "deposit.reorged",
        "deposit.seen",
        "deposit.confirmed",
    ]
    assert await chains.reconciled()


async def test_a_double_spend_in_the_new_branch_leaves_the_payment_reorged(
    chains: Chains,
    bitcoind: Bitcoind,
    bitcoin: BitcoinConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.bitcoin)
    owner = address.owner_id
    assert owner is not None
    watcher = make_watcher(bitcoin)
    await watcher.tick()
    txid = bitcoind.pay(address.address, "0.004")
    bitcoind.mine(2)
    await watcher.tick()

    bitcoind.reorg(2, drop=True)
    await watcher.tick()
    bitcoind.mine(3)
    await watcher.tick()

    payment = await chains.payment(txid)
    assert payment.state is PaymentStatus.reorged and not payment.credited
    assert await chains.available(owner, Asset.BTC) == btc("0")
    assert await chains.hot_wallet(Asset.BTC, Network.bitcoin) == btc("0")


async def test_a_reversal_after_the_money_was_spent_charges_the_shortfall_to_the_treasury(
    chains: Chains,
    bitcoind: Bitcoind,
    bitcoin: BitcoinConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.bitcoin)
    owner = address.owner_id
    assert owner is not None
    watcher = make_watcher(bitcoin)
    await watcher.tick()
    bitcoind.pay(address.address, "0.5")
    bitcoind.mine(1)
    await watcher.tick()
    # The customer moves most of it away (a transfer to someone else) before the reorg.
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        mine = await ledger.open_account(session, owner, Asset.BTC)
        theirs = await ledger.open_account(session, "usr_elsewhere", Asset.BTC)
        await ledger.post(session, "test:spend", ledger.transfer(mine.id, theirs.id, btc("0.4")))

    bitcoind.reorg(1, drop=True)
    await watcher.tick()

    assert await chains.available(owner, Asset.BTC) == btc("0")
    assert await chains.hot_wallet(Asset.BTC, Network.bitcoin) == btc("0")
    assert await chains.reconciled()


async def test_a_payment_split_over_two_transactions_credits_both(
    chains: Chains,
    bitcoind: Bitcoind,
    bitcoin: BitcoinConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.bitcoin)
    other = await chains.address(Network.bitcoin)
    assert address.owner_id is not None and other.owner_id is not None
    watcher = make_watcher(bitcoin)
    await watcher.tick()

    first = bitcoind.pay(address.address, "0.3")
    second = bitcoind.pay(address.address, "0.2")
    both = bitcoind.pay_many([(address.address, "0.01"), (other.address, "0.07")])
    bitcoind.mine(1)
    await watcher.tick()

    assert {(await chains.payment(t)).state for t in (first, second)} == {PaymentStatus.confirmed}
    assert await chains.available(address.owner_id, Asset.BTC) == btc("0.51")
    assert await chains.available(other.owner_id, Asset.BTC) == btc("0.07")
    assert (await chains.payment(both, 1)).owner_id == other.owner_id


async def test_a_node_outage_is_on_readyz_skips_no_block_and_catches_up(
    chains: Chains,
    bitcoind: Bitcoind,
    bitcoin: BitcoinConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.bitcoin)
    assert address.owner_id is not None
    watcher = make_watcher(bitcoin, batch_blocks=2)
    runtime = chains.runtime
    probe = watcher_probe(runtime.sessionmaker, runtime.settings, Network.bitcoin)
    assert await probe() == "down: no tick yet"
    started = await watcher.tick()
    assert await probe() == "ok"

    bitcoind.served.stop()
    bitcoind_down = await watcher.tick()
    assert bitcoind_down.error == "NodeUnavailable"
    assert (await probe()).startswith("down: NodeUnavailable")

    bitcoind.served.start()
    bitcoind.down("warmup")  # answers again, but only with -28 "Loading block index…"
    txid = bitcoind.pay(address.address, "0.7")
    bitcoind.mine(7)
    warming = await watcher.tick()
    assert warming.error == "NodeUnavailable"
    assert (await probe()).startswith("down: NodeUnavailable")
    assert await chains.count_payments() == 0

    bitcoind.up()
    back = await watcher.tick()

    assert back.error is None and back.height == back.tip == (started.tip or 0) + 7
    payment = await chains.payment(txid)
    assert payment.state is PaymentStatus.confirmed
    assert payment.block_height == (started.tip or 0) + 1
    assert await chains.available(address.owner_id, Asset.BTC) == btc("0.7")
    assert await probe() == "ok"


async def test_a_payment_recorded_from_a_block_the_chain_lacks_is_rescanned_before_credit(
    chains: Chains,
    bitcoind: Bitcoind,
    bitcoin: BitcoinConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.bitcoin)
    watcher = make_watcher(bitcoin, confirmations=2)
    await watcher.tick()
    txid = bitcoind.pay(address.address, "0.6")
    bitcoind.mine(1)
    await watcher.tick()
    # What a reorg racing a scan would leave: the payment tied to a block that is not the
    # chain's, while the cursor's own block still is.
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        await session.execute(
            update(Payment).where(Payment.txid == txid).values(block_hash="00" * 32)
        )

    bitcoind.mine(1)
    await watcher.tick()
    assert (await chains.payment(txid)).state is PaymentStatus.reorged
    await watcher.tick()

    payment = await chains.payment(txid)
    assert payment.state is PaymentStatus.confirmed and payment.credit_count == 1
    assert await chains.events(payment.id) == [
        "deposit.seen",
        "deposit.reorged",
        "deposit.seen",
        "deposit.confirmed",
    ]
