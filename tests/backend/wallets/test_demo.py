"""The dev stack's wallet data: gas money lands on the Ethereum and Tron hot wallets once,
each funding mirrored in the ledger."""

from __future__ import annotations

from backend.db import unit_of_work
from backend.dev.seed import Demo
from backend.keys import service as keys
from backend.keys import signer
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.runtime import Runtime
from backend.wallets.demo import demo_wallets
from contract.money import Asset, Money, Network
from tests.backend.wallets.nodes import Nodes
from tests.backend.wallets.support import books_balance
from tests.chains.anvil import Payer


async def test_hot_wallets_get_gas_money_once_and_the_ledger_says_so(
    runtime: Runtime, nodes: Nodes, payer: Payer, usdt: str, master_seed: signer.SeedInfo
) -> None:
    services = {
        "anvil": {"rpc": nodes.anvil.rpc_url, "usdt": usdt,
                  "payer_private_key": payer.private_key},
        "tron": {"api": nodes.trond.api_url, "sim": nodes.trond.served.url + "/_sim"},
    }  # fmt: skip
    demo = Demo(logins={}, services=services)

    for _ in range(2):
        async with unit_of_work(runtime.sessionmaker) as session:
            await demo_wallets(session, demo)
        nodes.trond.mine(1)

    async with unit_of_work(runtime.sessionmaker) as session:
        for network, asset, connector in (
            (Network.ethereum, Asset.ETH, nodes.ethereum),
            (Network.tron, Asset.TRX, nodes.tron),
        ):
            hot = (await keys.hot_wallet(session, runtime.settings, network)).address
            held = await connector.balance(hot, asset)
            account = await ledger.system_account(session, Purpose.hot_wallet, asset, network)
            assert held == Money.of("10" if asset is Asset.ETH else "2000", asset)
            assert (await ledger.balance(session, account.id)).amount == -held.amount
    await books_balance(runtime)


async def test_without_nodes_it_does_nothing(runtime: Runtime) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await demo_wallets(session, Demo(logins={}, services={}))
        assert await ledger.reconcile(session) == []
        assert not await ledger.accounts_of(session, "nobody")
