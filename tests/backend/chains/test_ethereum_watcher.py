"""The Ethereum watcher on a real anvil node with our TestUSDT: a deposit is seen, confirmed
and credited once however often the watcher ticks, and an evm_revert reorg takes it back."""

from __future__ import annotations

from backend.chains import deposits
from backend.connectors.ethereum.client import EthereumConnector
from backend.db import unit_of_work
from backend.keys.models import AddressPurpose
from backend.sandbox.anvil import Anvil
from backend.sandbox.ethereum import send_test_usdt
from contract.deposits import PaymentStatus
from contract.money import Asset, Network
from tests.backend.chains.conftest import Chains, MakeWatcher
from tests.backend.chains.conftest import usdt as usdt_amount
from tests.chains.anvil import Payer


async def test_a_usdt_deposit_is_seen_then_confirmed_and_credited_once(
    chains: Chains,
    anvil: Anvil,
    usdt: str,
    payer: Payer,
    ethereum: EthereumConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.ethereum)
    owner = address.owner_id
    assert owner is not None
    watcher = make_watcher(ethereum, confirmations=2)
    await watcher.tick()

    txid = await send_test_usdt(
        anvil.rpc_url, payer.private_key, usdt, address.address, usdt_amount("125.5")
    )
    seen = await watcher.tick()

    (payment,) = await chains.payments()
    assert seen.recorded == 1 and payment.txid == txid
    assert (payment.state, payment.confirmations) == (PaymentStatus.seen, 1)
    assert payment.from_address == payer.address
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        assert await deposits.pending_totals(session, owner) == {
            (Asset.USDT, Network.ethereum): usdt_amount("125.5")
        }

    await anvil.mine(1)
    confirmed = await watcher.tick()
    again = await watcher.tick()

    payment = await chains.payment(txid, payment.output_index)
    assert confirmed.confirmed == 1 and again.confirmed == again.recorded == 0
    assert payment.state is PaymentStatus.confirmed and payment.credited
    assert await chains.available(owner, Asset.USDT) == usdt_amount("125.5")
    assert await chains.journals(payment.id) == [
        f"deposit:ethereum:{txid}:{payment.output_index}:credit:1"
    ]
    assert await chains.events(payment.id) == ["deposit.seen", "deposit.confirmed"]
    async with unit_of_work(chains.runtime.sessionmaker) as session:
        assert await deposits.pending_totals(session, owner) == {}
        assert (await deposits.get_deposit(session, owner, payment.id)) is not None
        assert await deposits.get_deposit(session, "usr_someone_else", payment.id) is None


async def test_an_evm_revert_reorg_removes_the_deposit_and_reverses_the_credit(
    chains: Chains,
    anvil: Anvil,
    usdt: str,
    payer: Payer,
    ethereum: EthereumConnector,
    make_watcher: MakeWatcher,
) -> None:
    address = await chains.address(Network.ethereum)
    owner = address.owner_id
    assert owner is not None
    watcher = make_watcher(ethereum)
    await watcher.tick()
    snapshot = await anvil.snapshot()
    txid = await send_test_usdt(
        anvil.rpc_url, payer.private_key, usdt, address.address, usdt_amount("40")
    )
    await anvil.mine(2)
    await watcher.tick()
    (payment,) = await chains.payments()
    assert payment.state is PaymentStatus.confirmed
    assert await chains.available(owner, Asset.USDT) == usdt_amount("40")

    await anvil.revert(snapshot)
    await anvil.mine(4)  # a longer branch without the payment
    reorged = await watcher.tick()

    payment = await chains.payment(txid, payment.output_index)
    assert reorged.reorged == 1 and reorged.height == reorged.tip
    assert payment.state is PaymentStatus.reorged and not payment.credited
    assert await chains.available(owner, Asset.USDT) == usdt_amount("0")
    assert await chains.hot_wallet(Asset.USDT, Network.ethereum) == usdt_amount("0")
    assert await chains.events(payment.id) == [
        "deposit.seen",
        "deposit.confirmed",
        "deposit.reorged",
    ]
    assert await chains.reconciled()


async def test_a_payment_to_an_address_without_a_claim_is_recorded_and_credits_nobody(
    chains: Chains,
    anvil: Anvil,
    usdt: str,
    payer: Payer,
    ethereum: EthereumConnector,
    make_watcher: MakeWatcher,
) -> None:
    hot = await chains.address(Network.ethereum, purpose=AddressPurpose.hot_wallet)
    watcher = make_watcher(ethereum)
    await watcher.tick()

    txid = await send_test_usdt(
        anvil.rpc_url, payer.private_key, usdt, hot.address, usdt_amount("7")
    )
    await watcher.tick()

    (payment,) = await chains.payments()
    assert (payment.txid, payment.purpose, payment.state) == (
        txid,
        AddressPurpose.hot_wallet,
        PaymentStatus.confirmed,
    )
    assert await chains.journals(payment.id) == []
    assert await chains.events(payment.id) == []
