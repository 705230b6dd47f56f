"""Signing on Tron through the java-tron stand-in and the real connector: a USDT transfer lands,
one that reverts lands as failed, TRX top-ups activate accounts, and only our owner's
signature over the protobuf txID is accepted."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from backend.connectors.chain import BroadcastRejected
from backend.connectors.tron import TronConnector, TronTxParams
from backend.connectors.tron.transaction import raw_data_bytes, transaction_id
from backend.db import unit_of_work
from backend.keys import service, signer
from backend.keys.errors import KeysMisconfigured, RefusedToSign
from backend.keys.models import AddressPurpose, ChainAddress
from backend.runtime import Runtime
from backend.settings import Settings
from contract.money import Asset, Money, Network
from tests.backend.connectors.tron.conftest import USDT, Trond, new_address


def usdt(amount: str) -> Money:
    return Money.of(amount, Asset.USDT)


def trx(amount: str) -> Money:
    return Money.of(amount, Asset.TRX)


async def funded_deposit(
    runtime: Runtime, settings: Settings, trond: Trond, usdt_amount: str
) -> tuple[ChainAddress, ChainAddress]:
    """A customer's deposit address holding USDT and 40 TRX for energy, and the hot wallet."""
    async with unit_of_work(runtime.sessionmaker) as session:
        deposit = await service.allocate(
            session, settings, Network.tron, AddressPurpose.deposit, "usr_tron"
        )
        hot = await service.hot_wallet(session, settings, Network.tron)
    trond.pay(deposit.address, "40", asset="TRX")
    trond.pay(deposit.address, usdt_amount)
    trond.mine(1)
    return deposit, hot


async def sign_usdt(
    runtime: Runtime,
    settings: Settings,
    source: ChainAddress,
    to: str,
    amount: Money,
    params: TronTxParams,
) -> signer.SignedTransaction:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await signer.sign_trc20_transfer(
            session, settings, source, token=USDT, to=to, amount=amount, params=params
        )


async def test_a_signed_usdt_transfer_lands_and_moves_the_tokens(
    seeded: Runtime, settings: Settings, trond: Trond, tron: TronConnector
) -> None:
    deposit, hot = await funded_deposit(seeded, settings, trond, "25")
    params = await tron.prepare()
    signed = await sign_usdt(seeded, settings, deposit, hot.address, usdt("10"), params)

    sent = json.loads(signed.raw)
    assert signed.network is Network.tron and signed.sender == deposit.address
    assert sent["txID"] == signed.txid == transaction_id(sent["raw_data"])
    assert sent["raw_data_hex"] == raw_data_bytes(sent["raw_data"]).hex()
    assert sent["raw_data"]["fee_limit"] == params.fee_limit
    assert await tron.broadcast(signed.raw) == signed.txid
    assert await tron.broadcast(signed.raw) == signed.txid  # DUP_TRANSACTION_ERROR: it is in
    trond.mine(1)

    assert await tron.confirmations(signed.txid) >= 1
    assert await tron.balance(hot.address, Asset.USDT) == usdt("10")
    assert await tron.balance(deposit.address, Asset.USDT) == usdt("15")
    tip = await tron.tip()
    (found,) = await tron.scan(tip.height, tip.height, {hot.address})
    assert (found.txid, found.amount, found.from_address) == (
        signed.txid,
        usdt("10"),
        deposit.address,
    )
    assert found.succeeded


async def test_a_transfer_that_reverts_lands_as_failed(
    seeded: Runtime, settings: Settings, trond: Trond, tron: TronConnector
) -> None:
    deposit, hot = await funded_deposit(seeded, settings, trond, "5")
    signed = await sign_usdt(
        seeded, settings, deposit, hot.address, usdt("50"), await tron.prepare()
    )
    await tron.broadcast(signed.raw)  # the node takes it: only running it tells
    trond.mine(1)

    tip = await tron.tip()
    (failed,) = await tron.scan(tip.height, tip.height, {hot.address})
    assert (failed.txid, failed.succeeded) == (signed.txid, False)
    info = await tron.client.get_transaction_info(signed.txid)
    assert info["receipt"]["result"] == "REVERT"
    assert await tron.balance(hot.address, Asset.USDT) == usdt("0")
    assert await tron.balance(deposit.address, Asset.USDT) == usdt("5")
    assert await tron.balance(deposit.address, Asset.TRX) < trx("40")  # the energy was burned


async def test_a_trx_top_up_activates_and_funds_an_address(
    seeded: Runtime, settings: Settings, trond: Trond, tron: TronConnector
) -> None:
    deposit, _ = await funded_deposit(seeded, settings, trond, "1")
    fresh = new_address()
    async with unit_of_work(seeded.sessionmaker) as session:
        signed = await signer.sign_trx_transfer(
            session, settings, deposit, to=fresh, amount=trx("12.5"), params=await tron.prepare()
        )
    assert "fee_limit" not in json.loads(signed.raw)["raw_data"]
    await tron.broadcast(signed.raw)
    trond.mine(1)
    assert await tron.confirmations(signed.txid) >= 1
    assert await tron.balance(fresh, Asset.TRX) == trx("12.5")


async def test_the_network_takes_only_our_owner_signature_over_the_protobuf_txid(
    seeded: Runtime, settings: Settings, trond: Trond, tron: TronConnector
) -> None:
    deposit, hot = await funded_deposit(seeded, settings, trond, "25")
    signed = json.loads(
        (
            await sign_usdt(seeded, settings, deposit, hot.address, usdt("1"), await tron.prepare())
        ).raw
    )
    # The same signature over a transaction changed after signing is another owner's.
    changed = {**signed["raw_data"], "fee_limit": signed["raw_data"]["fee_limit"] + 1}
    with pytest.raises(BroadcastRejected) as forged:
        await tron.broadcast(json.dumps({**signed, "raw_data": changed}))
    assert forged.value.extra["tron_code"] == "SIGERROR"


async def test_the_signer_refuses_stale_windows_and_other_networks(
    seeded: Runtime, settings: Settings, trond: Trond, tron: TronConnector
) -> None:
    deposit, hot = await funded_deposit(seeded, settings, trond, "1")
    params = await tron.prepare()
    expired = replace(params, expiration=params.timestamp - 1)
    with pytest.raises(RefusedToSign, match="expired"):
        await sign_usdt(seeded, settings, deposit, hot.address, usdt("1"), expired)
    async with unit_of_work(seeded.sessionmaker) as session:
        bitcoin = await service.allocate(
            session, settings, Network.bitcoin, AddressPurpose.deposit, "usr_tron"
        )
    with pytest.raises(KeysMisconfigured):
        await sign_usdt(seeded, settings, bitcoin, hot.address, usdt("1"), params)
    with pytest.raises(ValueError):
        await sign_usdt(seeded, settings, deposit, hot.address, trx("1"), params)
