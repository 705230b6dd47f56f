"""Dev stack data for the wallets (`make run`): gas money on the Ethereum and Tron hot wallets,
so that withdrawals and sweeps can pay their fees from the first deposit on.

Idempotent: a hot wallet is funded only while it holds less than half its gas money, and
each funding is posted to the ledger (hot wallet → treasury, our own coins) under the key
of the transaction that paid it. Without a running anvil or Tron stand-in (tests seeding
the database alone) it does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from backend.connectors.ethereum.client import EthereumConnector
from backend.connectors.tron import TronConnector
from backend.keys import service as keys
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.logs import get_logger
from backend.sandbox.ethereum import send_ether
from backend.sandbox.tron import send_trx
from backend.settings import get_settings
from contract.money import Asset, Money, Network

log = get_logger(__name__)

GAS_MONEY = {Network.ethereum: Money.of("10", Asset.ETH), Network.tron: Money.of("2000", "TRX")}


class _Demo(Protocol):
    @property
    def services(self) -> Mapping[str, Mapping[str, Any]]: ...


async def _post(session: AsyncSession, network: Network, amount: Money, txid: str) -> None:
    hot = await ledger.system_account(session, Purpose.hot_wallet, amount.asset, network)
    ours = await ledger.system_account(session, Purpose.treasury, amount.asset)
    await ledger.post(
        session,
        f"demo:gas:{network}:{txid}",
        ledger.transfer(hot.id, ours.id, amount),
        memo=f"dev gas money for the {network} hot wallet",
    )


async def _fund_ethereum(session: AsyncSession, anvil: Mapping[str, Any]) -> None:
    settings = get_settings()
    hot = (await keys.hot_wallet(session, settings, Network.ethereum)).address
    gas = GAS_MONEY[Network.ethereum]
    node = EthereumConnector(anvil["rpc"], anvil["usdt"])
    try:
        held = await node.balance(hot, Asset.ETH)
    finally:
        await node.aclose()
    if held.amount * 2 >= gas.amount:
        return
    txid = await send_ether(anvil["rpc"], anvil["payer_private_key"], hot, gas)
    await _post(session, Network.ethereum, gas, txid)
    log.info("demo.gas_funded", network="ethereum", address=hot, amount=str(gas))


async def _fund_tron(session: AsyncSession, tron: Mapping[str, Any]) -> None:
    settings = get_settings()
    hot = (await keys.hot_wallet(session, settings, Network.tron)).address
    gas = GAS_MONEY[Network.tron]
    node = TronConnector(tron["api"], settings.tron_usdt_contract)
    try:
        held = await node.balance(hot, Asset.TRX)
    finally:
        await node.aclose()
    if held.amount * 2 >= gas.amount:
        return
    txid = await send_trx(tron["sim"], hot, gas)
    await _post(session, Network.tron, gas, txid)
    log.info("demo.gas_funded", network="tron", address=hot, amount=str(gas))


async def demo_wallets(session: AsyncSession, demo: _Demo) -> None:
    anvil, tron = demo.services.get("anvil", {}), demo.services.get("tron", {})
    if {"rpc", "usdt", "payer_private_key"} <= anvil.keys():
        await _fund_ethereum(session, anvil)
    if {"api", "sim"} <= tron.keys():
        await _fund_tron(session, tron)
