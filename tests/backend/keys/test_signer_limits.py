"""What the signer refuses whatever it is asked: a network fee that could exceed SIGNER_MAX_FEE
on any chain, and a transfer or output of nothing (zero or less)."""

from __future__ import annotations

import hashlib
import time
from decimal import Decimal

import pytest
from pydantic import ValidationError

from backend.connectors.bitcoin import Utxo
from backend.connectors.ethereum.client import EthTxParams
from backend.connectors.tron import TronTxParams
from backend.db import unit_of_work
from backend.keys import service, signer
from backend.keys.btc_plan import Output, Plan, plan_payment
from backend.keys.errors import FeeAboveCap, RefusedToSign
from backend.keys.models import AddressPurpose, ChainAddress
from backend.runtime import Runtime
from backend.settings import Settings
from contract.money import Asset, Money, Network
from tests.backend.connectors.bitcoin.conftest import new_address as new_btc_address
from tests.backend.connectors.tron.conftest import new_address as new_tron_address

USDT_TRC20 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_ERC20 = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
GWEI = 10**9
SUN = 10**6


def capped(settings: Settings, **caps: str) -> Settings:
    table = {Asset(asset): Decimal(cap) for asset, cap in caps.items()}
    return settings.model_copy(update={"signer_max_fee": settings.signer_max_fee | table})


async def address(runtime: Runtime, settings: Settings, network: Network) -> ChainAddress:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await service.allocate(session, settings, network, AddressPurpose.deposit, "usr_c")


def test_the_default_caps_and_their_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert {n: defaults.max_network_fee(n) for n in Network} == {
        Network.bitcoin: Money.of("0.001", Asset.BTC),
        Network.ethereum: Money.of("0.05", Asset.ETH),
        Network.tron: Money.of("100", Asset.TRX),
    }
    monkeypatch.setenv("SIGNER_MAX_FEE", '{"ETH": "0.01"}')
    configured = Settings()
    assert configured.max_network_fee(Network.ethereum) == Money.of("0.01", Asset.ETH)
    assert configured.max_network_fee(Network.bitcoin) == Money.of("0.001", Asset.BTC)
    for wrong in ('{"USDT": "5"}', '{"BTC": "0"}', '{"TRX": "-1"}'):
        monkeypatch.setenv("SIGNER_MAX_FEE", wrong)
        with pytest.raises(ValidationError, match="SIGNER_MAX_FEE"):
            Settings()


# ------------------------------------------------------------------------------- ethereum


def eth_params(settings: Settings, gas: int, max_fee_gwei: int) -> EthTxParams:
    return EthTxParams(settings.ethereum_chain_id, 0, gas, max_fee_gwei * GWEI, GWEI)


async def test_ethereum_gas_limit_times_max_fee_is_capped(
    seeded: Runtime, settings: Settings
) -> None:
    source = await address(seeded, settings, Network.ethereum)
    # 21,000 gas x 2,381 gwei = 0.050001 ETH: one gwei per gas above the 0.05 ETH cap.
    over = eth_params(settings, 21_000, 2_381)
    at_cap = eth_params(settings, 100_000, 500)  # exactly 0.05 ETH
    async with unit_of_work(seeded.sessionmaker) as session:
        with pytest.raises(FeeAboveCap, match="SIGNER_MAX_FEE") as refused:
            await signer.sign_ether_transfer(
                session,
                settings,
                source,
                to=source.address,
                amount=Money.of("1", Asset.ETH),
                params=over,
            )
        assert refused.value.status == 422 and refused.value.extra["cap"] == "0.05"
        with pytest.raises(FeeAboveCap):
            await signer.sign_erc20_transfer(
                session,
                settings,
                source,
                token=USDT_ERC20,
                to=source.address,
                amount=Money.of("5", Asset.USDT),
                params=over,
            )
        signed = await signer.sign_erc20_transfer(
            session,
            settings,
            source,
            token=USDT_ERC20,
            to=source.address,
            amount=Money.of("5", Asset.USDT),
            params=at_cap,
        )
        assert signed.txid.startswith("0x")
        # A lower cap from the settings applies to the same transaction.
        with pytest.raises(FeeAboveCap):
            await signer.sign_erc20_transfer(
                session,
                capped(settings, ETH="0.01"),
                source,
                token=USDT_ERC20,
                to=source.address,
                amount=Money.of("5", Asset.USDT),
                params=at_cap,
            )


async def test_ethereum_refuses_to_move_nothing(seeded: Runtime, settings: Settings) -> None:
    source = await address(seeded, settings, Network.ethereum)
    params = eth_params(settings, 65_000, 10)
    async with unit_of_work(seeded.sessionmaker) as session:
        for amount in ("0", "-0.5"):
            with pytest.raises(RefusedToSign, match="positive"):
                await signer.sign_ether_transfer(
                    session,
                    settings,
                    source,
                    to=source.address,
                    amount=Money.of(amount, Asset.ETH),
                    params=params,
                )
            with pytest.raises(RefusedToSign, match="positive"):
                await signer.sign_erc20_transfer(
                    session,
                    settings,
                    source,
                    token=USDT_ERC20,
                    to=source.address,
                    amount=Money.of(amount, Asset.USDT),
                    params=params,
                )


# -------------------------------------------------------------------------------- bitcoin


def coin_of(source: ChainAddress, sats: int) -> Utxo:
    return Utxo(hashlib.sha256(source.address.encode()).hexdigest(), 0, sats, source.address, 1)


async def test_bitcoin_inputs_minus_outputs_is_capped(seeded: Runtime, settings: Settings) -> None:
    source = await address(seeded, settings, Network.bitcoin)
    coin = coin_of(source, 5_000_000)

    def pay(fee_rate: int) -> Plan:
        return plan_payment(
            [coin],
            to=new_btc_address(),
            sats=1_000_000,
            change_address=source.address,
            fee_rate=fee_rate,
            network=settings.bitcoin_network,
        )

    # ~141 vB at 800 sat/vB: 112,800 sats, a plausible rate but above the 100,000 sat cap.
    dear = pay(800)
    assert dear.fee > 100_000
    async with unit_of_work(seeded.sessionmaker) as session:
        with pytest.raises(FeeAboveCap, match=r"cap of 0\.001 BTC"):
            await signer.sign_bitcoin(session, settings, dear)
        cheap = pay(20)
        assert (await signer.sign_bitcoin(session, settings, cheap)).txid
        with pytest.raises(FeeAboveCap):
            await signer.sign_bitcoin(session, capped(settings, BTC="0.00002"), cheap)


async def test_bitcoin_refuses_outputs_of_nothing(seeded: Runtime, settings: Settings) -> None:
    source = await address(seeded, settings, Network.bitcoin)
    good = plan_payment(
        [coin_of(source, 5_000_000)],
        to=new_btc_address(),
        sats=1_000_000,
        change_address=source.address,
        fee_rate=10,
        network=settings.bitcoin_network,
    )
    assert good.change is not None
    async with unit_of_work(seeded.sessionmaker) as session:
        for paid in (0, -1_000):
            # The amounts still add up: what the payee does not get goes to the change.
            moved = good.payee.sats - paid
            plan = Plan(
                good.network,
                good.coins,
                Output(good.payee.address, paid),
                Output(good.change.address, good.change.sats + moved),
                good.change_address,
                good.fee_rate,
                good.fee,
            )
            with pytest.raises(RefusedToSign, match="pays nothing"):
                await signer.sign_bitcoin(session, settings, plan)


# ----------------------------------------------------------------------------------- tron


def tron_params(fee_limit_trx: int) -> TronTxParams:
    now = int(time.time() * 1000)
    return TronTxParams("0001", "00" * 8, now, now + 60_000, fee_limit_trx * SUN)


async def test_tron_fee_limit_is_capped(seeded: Runtime, settings: Settings) -> None:
    source = await address(seeded, settings, Network.tron)
    async with unit_of_work(seeded.sessionmaker) as session:

        async def usdt(params: TronTxParams, at: Settings = settings) -> signer.SignedTransaction:
            return await signer.sign_trc20_transfer(
                session,
                at,
                source,
                token=USDT_TRC20,
                to=new_tron_address(),
                amount=Money.of("3", Asset.USDT),
                params=params,
            )

        with pytest.raises(FeeAboveCap, match="100"):
            await usdt(tron_params(101))
        assert (await usdt(tron_params(100))).txid
        with pytest.raises(FeeAboveCap):
            await usdt(tron_params(40), capped(settings, TRX="30"))


async def test_tron_refuses_to_move_nothing(seeded: Runtime, settings: Settings) -> None:
    source = await address(seeded, settings, Network.tron)
    async with unit_of_work(seeded.sessionmaker) as session:
        for amount in ("0", "-1"):
            with pytest.raises(RefusedToSign, match="positive"):
                await signer.sign_trc20_transfer(
                    session,
                    settings,
                    source,
                    token=USDT_TRC20,
                    to=new_tron_address(),
                    amount=Money.of(amount, Asset.USDT),
                    params=tron_params(50),
                )
            with pytest.raises(RefusedToSign, match="positive"):
                await signer.sign_trx_transfer(
                    session,
                    settings,
                    source,
                    to=new_tron_address(),
                    amount=Money.of(amount, Asset.TRX),
                    params=tron_params(50),
                )
