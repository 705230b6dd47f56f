"""The fee service: platform fees round up, M-Pesa bands are chosen from the amount that
really moves, network fees come from the node when one answers (else a labelled default),
withdrawal fees convert at current rates, and fees land on the fee account once."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.connectors.bitcoin import BitcoinConnector, BitcoinRpc
from backend.connectors.registry import ChainConnectors
from backend.db import unit_of_work
from backend.fees import service as fees
from backend.fees.config import Flow, PlatformFee, TariffBand
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.runtime import Runtime
from backend.sandbox.bitcoin import create_app as bitcoin_node
from backend.settings import BitcoinNetwork, Settings
from contract.ids import new_id
from contract.money import Asset, Money, Network
from contract.quotes import FeeKind, FeeLine
from tests.properties import accepted, accepting_at_least, refused
from tests.rates_feed import RatesFeed
from tests.served import Served

STEPPED = [
    TariffBand(low=1, high=100, charge=0),
    TariffBand(low=101, high=500, charge=7),
    TariffBand(low=501, high=1_000, charge=13),
    TariffBand(low=1_001, high=250_000, charge=29),
]


def test_platform_fees_round_up_and_respect_the_minimum(settings: Settings) -> None:
    assert fees.platform_fee(settings, Flow.buy, Decimal(492), fees.SHILLING) == 8  # 7.38
    assert fees.platform_fee(settings, Flow.buy, Decimal(100), fees.SHILLING) == 5  # minimum
    assert fees.platform_fee(settings, Flow.invoice, Decimal("1234.56"), fees.CENT) == Decimal(
        "12.35"
    )  # 12.3456
    custom = settings.model_copy(
        update={"fee_platform": {**settings.fee_platform, Flow.withdrawal: PlatformFee(
            percent=Decimal("0.5"), fixed_kes=Decimal(10), minimum_kes=Decimal(25))}}
    )  # fmt: skip
    assert fees.platform_fee(custom, Flow.withdrawal, Decimal(1000), fees.CENT) == 25
    assert fees.platform_fee(custom, Flow.withdrawal, Decimal(10_000), fees.CENT) == 60
    assert fees.describe_platform(custom, Flow.withdrawal) == (
        "Qpeapay withdrawal fee (0.5% + KES 10, at least KES 25)"
    )


def test_mpesa_bands_bound_the_amounts(settings: Settings) -> None:
    assert fees.payout_charge(settings, 10) == 0
    assert fees.payout_charge(settings, 101) == 5
    assert fees.payout_charge(settings, 250_000) == 13
    with pytest.raises(fees.AmountTooSmall, match="at least KES 10"):
        fees.payout_charge(settings, 9)
    with pytest.raises(fees.AmountTooLarge, match="at most KES 250,000"):
        fees.collection_charge(settings, 250_001)


def test_a_grossed_up_collection_sits_in_its_own_charges_band(settings: Settings) -> None:
    stepped = settings.model_copy(update={"mpesa_c2b_tariff": STEPPED})
    assert fees.gross_up_collection(stepped, 100) == 0  # collects 100, band 1..100
    assert fees.gross_up_collection(stepped, 101) == 7  # collects 108, band 101..500
    assert fees.gross_up_collection(stepped, 493) == 7  # collects 500, still 101..500
    assert fees.gross_up_collection(stepped, 494) == 13  # 501 is in 501..1000: charge 13
    for net in range(1, 2_000):
        charge = fees.gross_up_collection(stepped, net)
        assert fees.collection_charge(stepped, net + charge) == charge


@accepting_at_least(50)
@given(available=st.integers(min_value=10, max_value=3_000))
def test_payout_within_is_the_largest_payout_that_fits(settings: Settings, available: int) -> None:
    stepped = settings.model_copy(update={"mpesa_b2c_tariff": STEPPED[1:]})
    try:
        payout, charge = fees.payout_within(stepped, available)
    except fees.AmountTooSmall:
        assert all(p + fees.payout_charge(stepped, p) > available for p in range(101, available))
        refused("too small")
        return
    except fees.AmountTooLarge:
        assert available - STEPPED[-1].charge > STEPPED[-1].high
        refused("too large")
        return
    accepted()
    assert charge == fees.payout_charge(stepped, payout)
    assert payout + charge <= available
    assert all(
        p + fees.payout_charge(stepped, p) > available for p in range(payout + 1, available + 1)
    )


def test_a_sale_larger_than_one_payout_is_refused_a_settlement_is_capped(
    settings: Settings,
) -> None:
    with pytest.raises(fees.AmountTooLarge):
        fees.payout_within(settings, 400_000)
    capped = fees.settlement(settings, Money.of("400000.75", Asset.KES))
    assert capped.payout == Money.of("250000", Asset.KES)
    assert [f.amount.amount for f in capped.fees] == [Decimal(0), Decimal(13)]


def test_a_settlement_pays_whole_shillings_and_leaves_the_cents(settings: Settings) -> None:
    paid = fees.settlement(settings, Money.of("1000.75", Asset.KES))
    assert paid.payout == Money.of("995", Asset.KES)  # 995 + 5 (B2C band 101..1500) = 1000
    assert paid.debit == Money.of("1000", Asset.KES)
    assert [f.kind for f in paid.fees] == [FeeKind.platform, FeeKind.mpesa]
    with pytest.raises(fees.AmountTooSmall):
        fees.settlement(settings, Money.of("9.99", Asset.KES))


def test_whole_shillings_are_required_for_mpesa_amounts() -> None:
    assert fees.whole_shillings(Decimal("500.00")) == 500
    with pytest.raises(fees.NotWholeShillings) as caught:
        fees.whole_shillings(Decimal("500.50"))
    assert caught.value.code == "amount_not_whole_shillings"


async def test_network_fees_fall_back_to_a_labelled_default_when_the_node_is_down(
    runtime: Runtime,
) -> None:
    # The test settings point the Bitcoin and Tron connectors at ports where no node runs.
    cost = await fees.network_cost(runtime, Asset.BTC, Network.bitcoin)
    assert cost.cost == Money.of("0.00001410", Asset.BTC)  # 10 sat/vB x 141 vB
    assert cost.source == "configured default (node unavailable)"
    usdt = await fees.network_cost(runtime, Asset.USDT, Network.tron)
    # 65,000 energy x 210 sun + 345,000 sun of bandwidth = 13.995 TRX.
    assert usdt.cost == Money.of("13.995", Asset.TRX)
    assert usdt.describe() == (
        "Network fee (13.995000 TRX, 210 sun/energy, configured default (node unavailable))"
    )


@pytest.fixture
def bitcoin_node_url() -> Iterator[str]:
    served = Served(bitcoin_node())
    yield served.url
    served.stop()


async def test_network_fees_come_from_the_node_when_it_answers(
    runtime: Runtime, bitcoin_node_url: str
) -> None:
    connector = BitcoinConnector(
        BitcoinRpc(bitcoin_node_url + "/", "qpeapay", "qpeapay", attempts=1, timeout_s=2.0),
        BitcoinNetwork.regtest,
    )
    with_node = dataclasses.replace(runtime, chains=ChainConnectors(bitcoin=connector))
    async with httpx.AsyncClient(base_url=bitcoin_node_url) as sim:
        await sim.post("/_sim/fee", json={"sat_per_vb": 25})
        cost = await fees.network_cost(with_node, Asset.BTC, Network.bitcoin)
        assert (cost.unit_price, cost.source) == (25, "bitcoin node estimate")
        assert cost.cost == Money.of("0.00003525", Asset.BTC)
        await sim.post("/_sim/down", json={"mode": "503"})
        down = await fees.network_cost(with_node, Asset.BTC, Network.bitcoin)
    assert (down.unit_price, down.source) == (10, "configured default (node unavailable)")


async def test_withdrawal_fees_are_charged_in_the_asset_sent(
    runtime: Runtime, rates_feed: RatesFeed
) -> None:
    network, ours = await fees.withdrawal(runtime, Money.of("100", Asset.USDT), Network.tron)
    assert network.kind is FeeKind.network and network.amount.asset is Asset.USDT
    # 13.995 TRX at 0.12 USD each, USDT at 1 USD: 1.6794 USDT.
    assert network.amount == Money.of("1.6794", Asset.USDT)
    assert ours.kind is FeeKind.platform
    # KES 10 flat at ~129 KES per USDT, rounded up to the micro-USDT.
    assert Decimal("0.0775") < ours.amount.amount < Decimal("0.0776")
    btc_network, _ = await fees.withdrawal(runtime, Money.of("0.01", Asset.BTC), Network.bitcoin)
    assert btc_network.amount == Money.of("0.00001410", Asset.BTC)


async def test_fee_postings_move_each_assets_total_to_its_fee_account(runtime: Runtime) -> None:
    lines = [
        FeeLine(kind=FeeKind.platform, amount=Money.of("8", Asset.KES), description="p"),
        FeeLine(kind=FeeKind.mpesa, amount=Money.of("0", Asset.KES), description="m"),
        FeeLine(kind=FeeKind.rounding, amount=Money.of("1", Asset.KES), description="r"),
    ]
    async with unit_of_work(runtime.sessionmaker) as session:
        customer = await ledger.open_account(session, new_id("usr"), Asset.KES)
        treasury = await ledger.system_account(session, Purpose.treasury, Asset.KES)
        funding = ledger.transfer(treasury.id, customer.id, Money.of("100", Asset.KES))
        await ledger.post(session, "test:fund", funding)
        legs = await fees.fee_postings(session, lines, customer.id)
        await ledger.post(session, "test:fees", legs)
        await ledger.post(session, "test:fees", legs)  # a retry changes nothing
        fee_account = await ledger.system_account(session, Purpose.fees, Asset.KES)
        assert await ledger.balance(session, fee_account.id) == Money.of("9", Asset.KES)
        assert await ledger.balance(session, customer.id) == Money.of("91", Asset.KES)


def test_net_postings_combine_legs_on_one_account() -> None:
    kes = Asset.KES
    combined = fees.net_postings(
        ledger.transfer("a", "b", Money.of("10", kes)),
        ledger.transfer("a", "fees", Money.of("2", kes)),
        ledger.transfer("b", "a", Money.of("12", kes)),
    )
    assert {(p.account_id, p.amount.amount) for p in combined} == {
        ("b", Decimal(-2)),
        ("fees", Decimal(2)),
    }
