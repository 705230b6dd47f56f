"""Quote arithmetic: from a locked rate and what the customer asked for to the crypto amount,
the KES subtotal, every fee and the total. Pure functions on Decimals; nothing is stored.

Rounding, named at each step (docs/architecture.md#rounding): what the customer pays rounds
up, what we pay out rounds down, M-Pesa legs are whole shillings, fees round up.
Consequences the property tests pin down: no fee is negative; `subtotal + fees == total`
when the customer pays and `subtotal - fees == total` when we pay; buying and then selling
the same crypto at the same rate never returns more KES than were paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from backend.fees.config import Flow
from backend.fees.service import (
    CENT,
    SHILLING,
    AmountTooSmall,
    collection_charge,
    describe_platform,
    down,
    gross_up_collection,
    kes,
    line,
    payout_charge,
    payout_within,
    platform_fee,
    up,
    whole_shillings,
)
from backend.settings import Settings
from contract.money import Asset, Money, quantum
from contract.quotes import FeeKind, FeeLine, QuoteFlow, QuoteSide

_PRECISION = 50


@dataclass(frozen=True)
class Priced:
    flow: QuoteFlow
    side: QuoteSide
    rate: Decimal
    requested: Money
    amount: Money
    subtotal: Money
    fees: list[FeeLine]
    total: Money

    @property
    def fee(self) -> Money:
        return sum((fee.amount for fee in self.fees), Money.zero(Asset.KES))


def _times(amount: Decimal, rate: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return amount * rate


def _per(kes_amount: Decimal, rate: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return kes_amount / rate


def _crypto(value: Decimal, asset: Asset) -> Money:
    if value <= 0:
        raise AmountTooSmall(f"That buys less than the smallest unit of {asset}.", param="amount")
    return Money(amount=value, asset=asset)


def _lines(
    settings: Settings, flow: Flow, platform: Decimal, mpesa: Decimal, mpesa_what: str,
    leftover: Decimal,
) -> list[FeeLine]:  # fmt: skip  # the signature kept on two lines, not one per parameter
    fees = [
        line(FeeKind.platform, kes(platform), describe_platform(settings, flow)),
        line(FeeKind.mpesa, kes(mpesa), mpesa_what),
    ]
    if leftover:
        fees.append(line(FeeKind.rounding, kes(leftover), "Rounding to whole shillings"))
    return fees


def _buy_fee(settings: Settings, subtotal: Decimal) -> Decimal:
    return platform_fee(settings, Flow.buy, subtotal, SHILLING)


def price_buy(settings: Settings, rate: Decimal, requested: Money, asset: Asset) -> Priced:
    """The customer pays KES by STK push and is credited `asset`."""
    if requested.asset is Asset.KES:
        # They name the KES they will pay (whole shillings): fees come out of it, the rest
        # buys crypto, rounded down to the asset's smallest unit.
        total = whole_shillings(requested.amount)
        available = Decimal(total - collection_charge(settings, total))
        fee = settings.fee_platform[Flow.buy]
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            estimate = down((available - fee.fixed_kes) / (1 + fee.percent / 100), SHILLING)
        subtotal = min(estimate, available - up(fee.minimum_kes, SHILLING))
        while (
            subtotal > 0
            and subtotal + platform_fee(settings, Flow.buy, subtotal, SHILLING) > available
        ):
            subtotal -= 1
        if subtotal <= 0:
            raise AmountTooSmall("That does not cover the fees.", param="amount")
        platform = _buy_fee(settings, subtotal)
        amount = _crypto(down(_per(subtotal, rate), quantum(asset)), asset)
        charge = Decimal(total) - available
        leftover = available - subtotal - platform
    else:
        # They name the crypto: its value rounds up to whole shillings, fees go on top.
        amount = requested
        subtotal = up(_times(amount.amount, rate), SHILLING)
        platform = platform_fee(settings, Flow.buy, subtotal, SHILLING)
        charge = Decimal(gross_up_collection(settings, int(subtotal + platform)))
        total = int(subtotal + platform + charge)
        leftover = Decimal(0)
    return Priced(
        flow=QuoteFlow.buy,
        side=QuoteSide.buy,
        rate=rate,
        requested=requested,
        amount=amount,
        subtotal=kes(subtotal),
        fees=_lines(settings, Flow.buy, platform, charge, "M-Pesa collection charge", leftover),
        total=kes(Decimal(total)),
    )


def price_sell(settings: Settings, rate: Decimal, requested: Money, asset: Asset) -> Priced:
    """The customer gives `asset` and is paid KES by B2C."""
    if requested.asset is Asset.KES:
        # They name the KES to receive: we work out the crypto that covers it and the fees,
        # rounded up to the asset's smallest unit.
        payout = whole_shillings(requested.amount)
        charge = Decimal(payout_charge(settings, payout))
        needed = payout + charge
        fee = settings.fee_platform[Flow.sell]
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            estimate = up((needed + fee.fixed_kes) / (1 - fee.percent / 100), SHILLING)
        gross = max(estimate, needed + up(fee.minimum_kes, SHILLING))
        while gross - platform_fee(settings, Flow.sell, gross, SHILLING) < needed:
            gross += 1
        platform = platform_fee(settings, Flow.sell, gross, SHILLING)
        amount = _crypto(up(_per(gross, rate), quantum(asset)), asset)
        leftover = gross - platform - needed
    else:
        # They name the crypto: its value rounds down to whole shillings, fees come out.
        amount = requested
        gross = down(_times(amount.amount, rate), SHILLING)
        platform = platform_fee(settings, Flow.sell, gross, SHILLING)
        paid, paid_charge = payout_within(settings, int(gross - platform))
        payout, charge = paid, Decimal(paid_charge)
        leftover = gross - platform - payout - charge
    return Priced(
        flow=QuoteFlow.sell,
        side=QuoteSide.sell,
        rate=rate,
        requested=requested,
        amount=amount,
        subtotal=kes(gross),
        fees=_lines(settings, Flow.sell, platform, charge, "M-Pesa B2C charge", leftover),
        total=kes(Decimal(payout)),
    )


def price_invoice(settings: Settings, rate: Decimal, requested: Money, asset: Asset) -> Priced:
    """A merchant's invoice: the payer owes `amount` of crypto (rounded up); the merchant
    nets the KES value less our invoice fee (rounded up, to the cent). M-Pesa charges
    belong to the later settlement, not to the invoice."""
    if requested.asset is Asset.KES:
        value = requested.amount
        amount = _crypto(up(_per(value, rate), quantum(asset)), asset)
    else:
        amount = requested
        value = down(_times(amount.amount, rate), CENT)
    platform = platform_fee(settings, Flow.invoice, value, CENT)
    if platform > value:
        raise AmountTooSmall("That does not cover the invoice fee.", param="amount")
    return Priced(
        flow=QuoteFlow.invoice,
        side=QuoteSide.sell,
        rate=rate,
        requested=requested,
        amount=amount,
        subtotal=kes(value),
        fees=[line(FeeKind.platform, kes(platform), describe_platform(settings, Flow.invoice))],
        total=kes(value - platform),
    )


PRICERS = {QuoteFlow.buy: price_buy, QuoteFlow.sell: price_sell, QuoteFlow.invoice: price_invoice}
