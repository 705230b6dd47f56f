"""The Ethereum connector against a real anvil node and our USDT-like token."""

from __future__ import annotations

import json

import pytest

from backend.connectors.chain import (
    BlockNotFound,
    BroadcastRejected,
    NodeUnavailable,
    Transfer,
)
from backend.connectors.ethereum import erc20
from backend.connectors.ethereum.client import EthereumConnector, EthTxParams
from backend.db import unit_of_work
from backend.keys import service, signer
from backend.keys.errors import KeysMisconfigured
from backend.keys.models import AddressPurpose, ChainAddress
from backend.runtime import Runtime
from backend.sandbox.anvil import Anvil, free_port
from backend.sandbox.ethereum import FIXTURE, send_ether, send_test_usdt
from backend.settings import Settings
from contract.money import Asset, Money, Network
from tests.chains.anvil import Payer, mined

OUTSIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # anvil dev account 1: not ours


async def new_address(runtime: Runtime, owner: str = "usr_eth") -> ChainAddress:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await service.allocate(
            session, runtime.settings, Network.ethereum, AddressPurpose.deposit, owner
        )


async def log_index(anvil: Anvil, txid: str) -> int:
    receipt = await anvil.rpc("eth_getTransactionReceipt", txid)
    (entry,) = receipt["logs"]
    return int(entry["logIndex"], 16)


def test_the_fixture_token_is_shaped_like_mainnet_usdt() -> None:
    abi = {item.get("name"): item for item in json.loads(FIXTURE.read_text())["abi"]}
    assert abi["transfer"]["outputs"] == [] and abi["transferFrom"]["outputs"] == []
    assert abi["approve"]["outputs"] == []
    assert abi["decimals"]["outputs"][0]["type"] == "uint256"
    assert abi["Transfer"]["type"] == "event"


async def test_scan_finds_a_usdt_payment_to_our_address(
    runtime: Runtime, master_seed: signer.SeedInfo, anvil: Anvil, usdt: str,
    ethereum: EthereumConnector, payer: Payer,
) -> None:  # fmt: skip
    ours = await new_address(runtime)
    txid = await send_test_usdt(
        anvil.rpc_url, payer.private_key, usdt, ours.address, Money.of("12.345678", Asset.USDT)
    )
    await send_test_usdt(
        anvil.rpc_url, payer.private_key, usdt, OUTSIDER, Money.of("1", Asset.USDT)
    )
    receipt = await ethereum.receipt(txid)
    assert receipt is not None and receipt.succeeded
    tip = await ethereum.tip()

    # From genesis: many chunks of 50 blocks, one of them holding the payment.
    found = await ethereum.scan(0, tip.height, {ours.address})

    assert found == [
        Transfer(
            network=Network.ethereum,
            txid=txid,
            index=await log_index(anvil, txid),
            to_address=ours.address,
            amount=Money.of("12.345678", Asset.USDT),
            block=receipt.block,
            from_address=payer.address,
        )
    ]
    with pytest.raises(BlockNotFound):
        await ethereum.scan(tip.height + 1, tip.height + 5, {ours.address})


async def test_past_the_topic_batch_one_contract_wide_query_finds_the_same(
    runtime: Runtime, master_seed: signer.SeedInfo, anvil: Anvil, usdt: str, payer: Payer,
) -> None:  # fmt: skip
    first, second = await new_address(runtime), await new_address(runtime)
    for address, amount in ((first, "2"), (second, "3.5")):
        await send_test_usdt(
            anvil.rpc_url, payer.private_key, usdt, address.address, Money.of(amount, Asset.USDT)
        )
    wide = EthereumConnector(anvil.rpc_url, usdt, chunk_blocks=7, topic_batch=1)
    try:
        tip = await wide.tip()
        found = await wide.scan(0, tip.height, {first.address.lower(), second.address})
    finally:
        await wide.aclose()
    assert [(t.to_address, t.amount) for t in found] == [
        (first.address, Money.of("2", Asset.USDT)),
        (second.address, Money.of("3.5", Asset.USDT)),
    ]


async def test_confirmations_rise_as_blocks_are_mined(
    runtime: Runtime, master_seed: signer.SeedInfo, anvil: Anvil, usdt: str,
    ethereum: EthereumConnector, payer: Payer,
) -> None:  # fmt: skip
    ours = await new_address(runtime)
    txid = await send_test_usdt(
        anvil.rpc_url, payer.private_key, usdt, ours.address, Money.of("5", Asset.USDT)
    )
    assert await ethereum.confirmations(txid) == 1
    await anvil.mine(3)
    assert await ethereum.confirmations(txid) == 4
    assert await ethereum.confirmations("0x" + "ab" * 32) == 0


async def test_a_reorg_takes_the_transfer_and_the_block_away(
    runtime: Runtime, master_seed: signer.SeedInfo, anvil: Anvil, usdt: str,
    ethereum: EthereumConnector, payer: Payer,
) -> None:  # fmt: skip
    ours = await new_address(runtime)
    before = await anvil.snapshot()
    txid = await send_test_usdt(
        anvil.rpc_url, payer.private_key, usdt, ours.address, Money.of("7", Asset.USDT)
    )
    (seen,) = await ethereum.scan(0, (await ethereum.tip()).height, {ours.address})
    assert seen.block is not None
    await anvil.mine(2)

    await anvil.revert(before)
    await anvil.mine(3)  # a longer chain of other blocks over the same heights

    assert (await ethereum.block_at(seen.block.height)).hash != seen.block.hash
    assert await ethereum.scan(0, (await ethereum.tip()).height, {ours.address}) == []
    assert await ethereum.receipt(txid) is None
    assert await ethereum.confirmations(txid) == 0
    assert await ethereum.balance(ours.address, Asset.USDT) == Money.zero(Asset.USDT)


async def test_a_signed_usdt_transfer_from_our_address_is_mined(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo, anvil: Anvil,
    usdt: str, ethereum: EthereumConnector, payer: Payer,
) -> None:  # fmt: skip
    source = await new_address(runtime)
    await send_test_usdt(
        anvil.rpc_url, payer.private_key, usdt, source.address, Money.of("50", Asset.USDT)
    )
    # The gas top-up a sweeper makes before moving tokens out of a deposit address.
    await send_ether(anvil.rpc_url, payer.private_key, source.address, Money.of("1", Asset.ETH))
    amount = Money.of("20.000001", Asset.USDT)
    data = erc20.transfer_calldata(OUTSIDER, amount.minor_units())
    params = await ethereum.prepare(source.address, usdt, data=data)
    async with unit_of_work(runtime.sessionmaker) as session:
        signed = await signer.sign_erc20_transfer(
            session, settings, source, token=usdt, to=OUTSIDER, amount=amount, params=params
        )
    outsider_before = await ethereum.balance(OUTSIDER, Asset.USDT)

    txid = await ethereum.broadcast(signed.raw)
    assert txid == signed.txid
    assert await ethereum.broadcast(signed.raw) == txid  # a retried job sends it again

    receipt = await mined(ethereum, txid)
    assert receipt.succeeded  # status 1, no return value needed
    assert receipt.fee() <= params.max_cost()
    assert await ethereum.balance(source.address, Asset.USDT) == Money.of("29.999999", Asset.USDT)
    assert await ethereum.balance(OUTSIDER, Asset.USDT) == outsider_before + amount
    assert await ethereum.balance(source.address, Asset.ETH) == (
        Money.of("1", Asset.ETH) - receipt.fee()
    )


async def test_an_ether_transfer_from_our_address_is_mined(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo, anvil: Anvil,
    ethereum: EthereumConnector, payer: Payer,
) -> None:  # fmt: skip
    source = await new_address(runtime)
    await send_ether(anvil.rpc_url, payer.private_key, source.address, Money.of("2", Asset.ETH))
    amount = Money.of("0.25", Asset.ETH)
    params = await ethereum.prepare(source.address, OUTSIDER, value_wei=amount.minor_units())
    async with unit_of_work(runtime.sessionmaker) as session:
        signed = await signer.sign_ether_transfer(
            session, settings, source, to=OUTSIDER, amount=amount, params=params
        )
    receipt = await mined(ethereum, await ethereum.broadcast(signed.raw))
    assert receipt.succeeded
    assert await ethereum.balance(source.address, Asset.ETH) == (
        Money.of("1.75", Asset.ETH) - receipt.fee()
    )


async def test_a_reverting_transfer_is_refused_or_fails_by_its_receipt(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo, anvil: Anvil,
    usdt: str, ethereum: EthereumConnector, payer: Payer,
) -> None:  # fmt: skip
    source = await new_address(runtime)  # holds ETH for gas but no USDT
    await send_ether(anvil.rpc_url, payer.private_key, source.address, Money.of("1", Asset.ETH))
    amount = Money.of("1", Asset.USDT)
    data = erc20.transfer_calldata(OUTSIDER, amount.minor_units())
    with pytest.raises(BroadcastRejected) as refused:
        await ethereum.prepare(source.address, usdt, data=data)
    assert "balance too low" in str(refused.value.extra["reason"])

    # Sent anyway (gas set by hand): mined, status 0, nothing moved.
    params = await ethereum.prepare(source.address, OUTSIDER, value_wei=0)
    forced = EthTxParams(
        params.chain_id, params.nonce, 100_000, params.max_fee_per_gas,
        params.max_priority_fee_per_gas,
    )  # fmt: skip
    async with unit_of_work(runtime.sessionmaker) as session:
        signed = await signer.sign_erc20_transfer(
            session, settings, source, token=usdt, to=OUTSIDER, amount=amount, params=forced
        )
    receipt = await mined(ethereum, await ethereum.broadcast(signed.raw))
    assert not receipt.succeeded
    assert await ethereum.scan(receipt.block.height, receipt.block.height, {OUTSIDER}) == []


async def test_the_signer_refuses_another_chain(
    runtime: Runtime, settings: Settings, master_seed: signer.SeedInfo
) -> None:
    source = await new_address(runtime)
    mainnet = EthTxParams(1, 0, 21_000, 10**9, 10**9)
    with pytest.raises(KeysMisconfigured, match="chain 1"):
        async with unit_of_work(runtime.sessionmaker) as session:
            await signer.sign_ether_transfer(
                session, settings, source, to=OUTSIDER, amount=Money.of("1", Asset.ETH),
                params=mainnet,
            )  # fmt: skip


async def test_balances_fees_and_blocks(ethereum: EthereumConnector, payer: Payer) -> None:
    assert await ethereum.balance(payer.address, Asset.ETH) > Money.of("1", Asset.ETH)
    assert await ethereum.balance(payer.address, Asset.USDT) > Money.of("1", Asset.USDT)
    fee = await ethereum.estimate_fee()
    assert fee.unit_price > 0 and fee.unit == "wei/gas"
    assert fee.typical_cost == Money.from_minor_units(fee.unit_price * 65_000, Asset.ETH)
    tip = await ethereum.tip()
    assert await ethereum.block_at(tip.height) == tip
    assert (await ethereum.block_at(tip.height - 1)).hash == tip.parent_hash
    with pytest.raises(BlockNotFound):
        await ethereum.block_at(tip.height + 100)
    assert await ethereum.pending({payer.address}) == []


async def test_a_node_that_is_down_is_node_unavailable(usdt: str) -> None:
    down = EthereumConnector(f"http://127.0.0.1:{free_port()}", usdt, attempts=3, backoff_s=0.01)
    try:
        with pytest.raises(NodeUnavailable):
            await down.tip()
        with pytest.raises(NodeUnavailable):
            await down.scan(0, 10, {OUTSIDER})
        with pytest.raises(NodeUnavailable):
            await down.broadcast("0x02f86c")
    finally:
        await down.aclose()
