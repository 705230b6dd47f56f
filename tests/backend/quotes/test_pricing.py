"""Quote arithmetic, by example and by property: no float, no negative fee, every rounding
in our favour, totals that add up, and no round trip (buy then sell, sell then buy) that
leaves the customer better off at one rate."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from backend.fees.service import AmountTooLarge, AmountTooSmall, NotWholeShillings
from backend.quotes.pricing import Priced, price_buy, price_invoice, price_sell
from backend.settings import Settings
from contract.money import Asset, Money, quantum
from contract.quotes import FeeKind, QuoteFlow
from tests.properties import accepted, accepting_at_least, refused

CRYPTO = [Asset.BTC, Asset.USDT, Asset.ETH, Asset.TRX]
# KES per unit, as the aggregator publishes them (8 decimals), across every plausible range.
RATES = {
    Asset.BTC: (Decimal(1_000_000), Decimal(50_000_000)),
    Asset.USDT: (Decimal(50), Decimal(500)),
    Asset.ETH: (Decimal(50_000), Decimal(2_000_000)),
    Asset.TRX: (Decimal(1), Decimal(100)),
}
# The largest request drawn, in each asset's smallest unit (sats, micro-USDT, wei, sun).
MOST = {Asset.BTC: 5 * 10**8, Asset.USDT: 5_000 * 10**6, Asset.ETH: 50 * 10**18,
        Asset.TRX: 100_000 * 10**6}  # fmt: skip
REFUSED = (AmountTooSmall, AmountTooLarge)
# Of the 100 examples a property draws, how many must get past the refusals.
MIN_ACCEPTED = 25


@st.composite
def market(draw: st.DrawFn) -> tuple[Asset, Decimal]:
    asset = draw(st.sampled_from(CRYPTO))
    low, high = RATES[asset]
    rate = draw(st.decimals(min_value=low, max_value=high, places=8, allow_nan=False))
    return asset, rate


@st.composite
def request_for(draw: st.DrawFn, asset: Asset) -> Money:
    if draw(st.booleans()):
        return Money.of(draw(st.integers(min_value=1, max_value=300_000)), Asset.KES)
    return Money.from_minor_units(draw(st.integers(min_value=1, max_value=MOST[asset])), asset)


def no_float(priced: Priced) -> None:
    for money in (priced.amount, priced.subtotal, priced.total, priced.fee, priced.requested):
        assert type(money.amount) is Decimal
    assert type(priced.rate) is Decimal
    for fee in priced.fees:
        assert type(fee.amount.amount) is Decimal
        assert fee.amount.amount >= 0, fee
        assert fee.amount.asset is Asset.KES


def whole(money: Money) -> bool:
    return money.amount == money.amount.to_integral_value()


@accepting_at_least(MIN_ACCEPTED)
@given(market(), st.data())
def test_a_buy_adds_up_and_rounds_for_us(
    settings: Settings, pair: tuple[Asset, Decimal], data: st.DataObject
) -> None:
    asset, rate = pair
    requested = data.draw(request_for(asset))
    try:
        priced = price_buy(settings, rate, requested, asset)
    except REFUSED as exc:
        refused(type(exc).__name__)
        return
    accepted()
    no_float(priced)
    assert priced.total == priced.subtotal + priced.fee
    assert whole(priced.total) and whole(priced.subtotal)
    # The crypto credited is never worth more than the KES it was priced at...
    assert priced.amount.amount * rate <= priced.subtotal.amount
    if requested.asset is Asset.KES:
        assert priced.total == requested
        # ...and is short of it by less than one smallest unit.
        assert (priced.amount.amount + quantum(asset)) * rate > priced.subtotal.amount
    else:
        assert priced.amount == requested
        assert priced.subtotal.amount - priced.amount.amount * rate < 1


@accepting_at_least(MIN_ACCEPTED)
@given(market(), st.data())
def test_a_sell_adds_up_and_rounds_for_us(
    settings: Settings, pair: tuple[Asset, Decimal], data: st.DataObject
) -> None:
    asset, rate = pair
    requested = data.draw(request_for(asset))
    try:
        priced = price_sell(settings, rate, requested, asset)
    except REFUSED as exc:
        refused(type(exc).__name__)
        return
    accepted()
    no_float(priced)
    assert priced.total == priced.subtotal - priced.fee
    assert whole(priced.total) and whole(priced.subtotal)
    # We never pay out more than the crypto we take is worth.
    assert priced.amount.amount * rate >= priced.subtotal.amount
    if requested.asset is Asset.KES:
        assert priced.total == requested
        assert (priced.amount.amount - quantum(asset)) * rate < priced.subtotal.amount
    else:
        assert priced.amount == requested


@accepting_at_least(MIN_ACCEPTED)
@given(market(), st.data())
def test_an_invoice_charges_the_payer_enough(
    settings: Settings, pair: tuple[Asset, Decimal], data: st.DataObject
) -> None:
    asset, rate = pair
    requested = data.draw(request_for(asset))
    try:
        priced = price_invoice(settings, rate, requested, asset)
    except REFUSED as exc:
        refused(type(exc).__name__)
        return
    accepted()
    no_float(priced)
    assert priced.flow is QuoteFlow.invoice
    assert priced.amount.amount * rate >= priced.subtotal.amount
    assert priced.total == priced.subtotal - priced.fee


@accepting_at_least(MIN_ACCEPTED)
@given(market(), st.data())
def test_buying_then_selling_never_makes_money(
    settings: Settings, pair: tuple[Asset, Decimal], data: st.DataObject
) -> None:
    asset, rate = pair
    requested = data.draw(request_for(asset))
    try:
        bought = price_buy(settings, rate, requested, asset)
    except REFUSED as exc:
        refused(type(exc).__name__)
        return
    try:
        sold = price_sell(settings, rate, bought.amount, asset)
    except AmountTooSmall:
        refused("sells for nothing at all")
        return
    accepted()
    assert sold.total <= bought.total


@accepting_at_least(MIN_ACCEPTED)
@given(market(), st.data())
def test_selling_then_buying_back_never_gains_crypto(
    settings: Settings, pair: tuple[Asset, Decimal], data: st.DataObject
) -> None:
    asset, rate = pair
    requested = data.draw(request_for(asset))
    try:
        sold = price_sell(settings, rate, requested, asset)
        bought = price_buy(settings, rate, sold.total, asset)
    except REFUSED as exc:
        refused(type(exc).__name__)
        return
    assume(sold.total.amount > 0)
    accepted()
    assert bought.amount <= sold.amount


def test_buying_500_shillings_of_usdt(settings: Settings) -> None:
    priced = price_buy(settings, Decimal("129.25"), Money.of(500, Asset.KES), Asset.USDT)
    assert priced.subtotal == Money.of(492, Asset.KES)
    assert [(f.kind, f.amount.amount) for f in priced.fees] == [
        (FeeKind.platform, Decimal(8)),  # 1.5% of 492 = 7.38, rounded up
        (FeeKind.mpesa, Decimal(0)),
    ]
    assert priced.amount == Money.of("3.806576", Asset.USDT)  # 492 / 129.25, rounded down
    assert priced.total == Money.of(500, Asset.KES)


def test_selling_usdt_for_1000_shillings(settings: Settings) -> None:
    priced = price_sell(settings, Decimal("129.25"), Money.of(1000, Asset.KES), Asset.USDT)
    # 1000 out + 5 M-Pesa (band 101..1500) + 16 ours (1.5% of 1021 = 15.32, up) = 1021.
    assert priced.subtotal == Money.of(1021, Asset.KES)
    assert priced.fee == Money.of(21, Asset.KES)
    assert priced.amount == Money.of("7.899420", Asset.USDT)  # 1021 / 129.25, rounded up
    assert priced.total == Money.of(1000, Asset.KES)


def test_leftover_from_a_tariff_step_is_shown_as_rounding(settings: Settings) -> None:
    # 1,510 KES: 1.5% is 23 (22.65 up), leaving 1,487; the 5-shilling band pays 1,482 and
    # nothing is left over.
    priced = price_sell(settings, Decimal(1510), Money.of(1, Asset.BTC), Asset.BTC)
    assert priced.total + priced.fee == priced.subtotal
    stepped = price_sell(settings, Decimal(1530), Money.of(1, Asset.BTC), Asset.BTC)
    kinds = {fee.kind: fee.amount.amount for fee in stepped.fees}
    # 1530 - 23 = 1507: band 9 pays 1498 < 1501, band 5 pays 1500 with 2 over.
    assert (stepped.total.amount, kinds[FeeKind.mpesa], kinds[FeeKind.rounding]) == (1500, 5, 2)


def test_amounts_m_pesa_cannot_carry_are_refused(settings: Settings) -> None:
    rate = Decimal(129)
    with pytest.raises(NotWholeShillings):
        price_buy(settings, rate, Money.of("500.50", Asset.KES), Asset.USDT)
    with pytest.raises(AmountTooSmall):
        price_sell(settings, rate, Money.of("0.01", Asset.USDT), Asset.USDT)
    with pytest.raises(AmountTooLarge):
        price_buy(settings, rate, Money.of(250_001, Asset.KES), Asset.USDT)
    with pytest.raises(AmountTooLarge):
        price_sell(settings, rate, Money.of(5_000, Asset.USDT), Asset.USDT)
    with pytest.raises(AmountTooSmall):
        price_buy(settings, rate, Money.of(5, Asset.KES), Asset.USDT)  # all of it is fee
