"""The dev chain's TestUSDT: deployed where CREATE2 says, once, with the minted supply."""

from __future__ import annotations

from backend.connectors.ethereum.client import EthereumConnector
from backend.sandbox.anvil import Anvil
from backend.sandbox.ethereum import deploy_test_usdt, predicted_token_address
from contract.money import Asset, Money
from tests.chains.anvil import Payer


async def test_deploying_again_finds_the_token_and_mints_nothing(
    anvil: Anvil, usdt: str, ethereum: EthereumConnector, payer: Payer
) -> None:
    assert usdt == predicted_token_address(payer.address)
    holding = await ethereum.balance(payer.address, Asset.USDT)
    tip = await ethereum.tip()

    assert await deploy_test_usdt(anvil.rpc_url, payer.private_key) == usdt

    assert await ethereum.balance(payer.address, Asset.USDT) == holding
    assert (await ethereum.tip()).height == tip.height  # not one transaction sent


async def test_the_minted_supply_is_six_decimal_usdt(anvil: Anvil, usdt: str) -> None:
    supply = await anvil.rpc("eth_call", {"to": usdt, "data": "0x18160ddd"}, "latest")
    assert Money.from_minor_units(int(supply, 16), Asset.USDT) == Money.of("1000000", Asset.USDT)
    decimals = await anvil.rpc("eth_call", {"to": usdt, "data": "0x313ce567"}, "latest")
    assert int(decimals, 16) == 6
