"""The one fee service: platform fees per flow, M-Pesa charges from the tariff bands, network
fee estimates, and the ledger postings that carry fees to the fee account.

Invariants: a fee is never negative; every fee rounds up (the customer pays it); M-Pesa
legs are whole shillings; the tariff band is chosen from the amount that actually moves
on M-Pesa, so a charge never lands in a band its own amount does not belong to.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from sqlalchemy.ext.asyncio import AsyncSession

from backend.connectors.chain import ChainError, FeeEstimate
from backend.errors import InvalidRequest
from backend.fees.config import Flow, TariffBand
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.ledger.service import Posting
from backend.logs import get_logger
from backend.rates import service as rates
from backend.runtime import Runtime
from backend.settings import Settings
from contract.money import Asset, Money, Network, quantum
from contract.quotes import FeeKind, FeeLine

log = get_logger(__name__)

SHILLING = Decimal(1)
CENT = Decimal("0.01")
_NATIVE = {Network.bitcoin: Asset.BTC, Network.ethereum: Asset.ETH, Network.tron: Asset.TRX}


class AmountTooSmall(InvalidRequest):
    code = "amount_too_small"
    message = "The amount is too small for this transfer once fees are taken."


class AmountTooLarge(InvalidRequest):
    code = "amount_too_large"
    message = "The amount is larger than one transfer may be."


class NotWholeShillings(InvalidRequest):
    code = "amount_not_whole_shillings"
    message = "M-Pesa moves whole shillings: send a KES amount without cents."


def up(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_CEILING)


def down(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_FLOOR)


def kes(amount: Decimal) -> Money:
    return Money(amount=amount.quantize(CENT), asset=Asset.KES)


def line(kind: FeeKind, amount: Money, description: str) -> FeeLine:
    if amount.is_negative():
        raise ValueError(f"a {kind} fee cannot be negative: {amount}")
    return FeeLine(kind=kind, amount=amount, description=description)


# ---------------------------------------------------------------------------- platform


def platform_fee(settings: Settings, flow: Flow, base: Decimal, quantum: Decimal) -> Decimal:
    """Our fee on a KES `base`: percent plus fixed, at least the minimum, rounded up."""
    fee = settings.fee_platform[flow]
    with localcontext() as ctx:
        ctx.prec = 50
        raw = base * fee.percent / 100 + fee.fixed_kes
    return up(max(raw, fee.minimum_kes), quantum)


def describe_platform(settings: Settings, flow: Flow) -> str:
    fee = settings.fee_platform[flow]
    parts = [f"{fee.percent.normalize():f}%"] if fee.percent else []
    if fee.fixed_kes:
        parts.append(f"KES {fee.fixed_kes:f}")
    text = " + ".join(parts) or "none"
    if fee.minimum_kes:
        text += f", at least KES {fee.minimum_kes:f}"
    return f"Qpeapay {flow} fee ({text})"


# ------------------------------------------------------------------------------ M-Pesa


def _band(bands: list[TariffBand], amount: int) -> TariffBand:
    if amount < bands[0].low:
        raise AmountTooSmall(
            f"M-Pesa moves at least KES {bands[0].low} in one transfer.", param="amount"
        )
    for band in bands:
        if amount <= band.high:
            return band
    raise AmountTooLarge(
        f"M-Pesa moves at most KES {bands[-1].high:,} in one transfer.", param="amount"
    )


def collection_charge(settings: Settings, amount: int) -> int:
    """M-Pesa's charge for collecting exactly `amount` KES (STK push into our paybill)."""
    return _band(settings.mpesa_c2b_tariff, amount).charge


def payout_charge(settings: Settings, amount: int) -> int:
    """M-Pesa's charge for paying out exactly `amount` KES (B2C)."""
    return _band(settings.mpesa_b2c_tariff, amount).charge


def gross_up_collection(settings: Settings, net: int) -> int:
    """The charge to add to `net` so that the collected total, charge included, sits in
    the band whose charge it is. Bands are contiguous with charges that never fall, so
    the first band whose top fits is also one whose bottom is reached."""
    bands = settings.mpesa_c2b_tariff
    for band in bands:
        if net + band.charge <= band.high:
            _band(bands, net + band.charge)  # below the minimum still raises
            return band.charge
    raise AmountTooLarge(
        f"M-Pesa moves at most KES {bands[-1].high:,} in one transfer.", param="amount"
    )


def payout_within(settings: Settings, available: int, *, cap: bool = False) -> tuple[int, int]:
    """The largest whole-shilling payout that, with its own B2C charge, fits in `available`.

    Returns (payout, charge). More than one transfer can carry is refused, unless `cap`
    (a settlement pays the most it can and leaves the rest in the balance)."""
    top = settings.mpesa_b2c_tariff[-1]
    if not cap and available - top.charge > top.high:
        raise AmountTooLarge(f"M-Pesa pays out at most KES {top.high:,} at once.", param="amount")
    best: tuple[int, int] | None = None
    for band in settings.mpesa_b2c_tariff:
        payout = min(band.high, available - band.charge)
        if payout >= band.low and (best is None or payout > best[0]):
            best = (payout, band.charge)
    if best is None:
        low = settings.mpesa_b2c_tariff[0]
        raise AmountTooSmall(
            f"After fees this pays out less than M-Pesa's minimum of KES {low.low}.",
            param="amount",
        )
    return best


def whole_shillings(amount: Decimal) -> int:
    if amount != amount.to_integral_value():
        raise NotWholeShillings(param="amount")
    return int(amount)


# ----------------------------------------------------------------------------- network


@dataclass(frozen=True)
class NetworkCost:
    """What sending one transfer of `asset` on `network` costs, in the native coin."""

    cost: Money
    unit_price: int
    unit: str
    source: str

    def describe(self) -> str:
        return f"Network fee ({self.cost}, {self.unit_price:,} {self.unit}, {self.source})"


async def fee_estimate(runtime: Runtime, network: Network) -> tuple[int, str, str]:
    """(unit price, unit, source): the chain connector's estimate when this process runs
    one for the network and it answers within the rate timeout; else the configured
    default, labelled as such."""
    connector = runtime.chains.get(network)
    fallback = runtime.settings.fee_network_defaults[network]
    if connector is None:
        return fallback.unit_price, fallback.unit, "configured default"
    try:
        async with asyncio.timeout(runtime.settings.rates_timeout_s):
            estimate: FeeEstimate = await connector.estimate_fee()
    except (ChainError, TimeoutError) as exc:
        log.warning("fees.estimate_failed", network=network, error=type(exc).__name__)
        return fallback.unit_price, fallback.unit, "configured default (node unavailable)"
    return estimate.unit_price, estimate.unit, f"{network} node estimate"


async def network_cost(runtime: Runtime, asset: Asset, network: Network) -> NetworkCost:
    transfer = runtime.settings.fee_transfer_costs.get(f"{asset}:{network}")
    if transfer is None:
        raise InvalidRequest(f"{asset} is not sent on {network}.", param="network")
    unit_price, unit, source = await fee_estimate(runtime, network)
    minor = transfer.units * unit_price + transfer.fixed_minor
    return NetworkCost(Money.from_minor_units(minor, _NATIVE[network]), unit_price, unit, source)


# ------------------------------------------------------------------------- settlement


@dataclass(frozen=True)
class Payout:
    """A KES payout to M-Pesa: what arrives, the fees, and what leaves the balance."""

    payout: Money
    fees: list[FeeLine]

    @property
    def debit(self) -> Money:
        return sum((fee.amount for fee in self.fees), self.payout)


def settlement(settings: Settings, available: Money) -> Payout:
    """Pay a merchant out of `available` KES: the largest whole-shilling B2C payout that
    fits with the settlement fee and M-Pesa's charge; cents stay in the balance."""
    if available.asset is not Asset.KES:
        raise ValueError("settlements pay out KES")
    gross = int(down(available.amount, SHILLING))
    platform = platform_fee(settings, Flow.settlement, Decimal(gross), SHILLING)
    payout, charge = payout_within(settings, gross - int(platform), cap=True)
    return Payout(
        payout=kes(Decimal(payout)),
        fees=[
            line(FeeKind.platform, kes(platform), describe_platform(settings, Flow.settlement)),
            line(FeeKind.mpesa, kes(Decimal(charge)), "M-Pesa B2C charge"),
        ],
    )


# -------------------------------------------------------------------------- withdrawal


async def withdrawal(runtime: Runtime, amount: Money, network: Network) -> list[FeeLine]:
    """Fees for sending `amount` of crypto out on `network`, charged in that asset: the
    network's fee (converted from the native coin at the current rates) and ours."""
    asset = amount.asset
    cost = await network_cost(runtime, asset, network)
    asset_kes = (await rates.rate(runtime, asset)).value
    step = quantum(asset)
    with localcontext() as ctx:
        ctx.prec = 50
        if cost.cost.asset is asset:
            network_fee = cost.cost.amount
        else:
            native_kes = (await rates.rate(runtime, cost.cost.asset)).value
            network_fee = up(cost.cost.amount * native_kes / asset_kes, step)
        value_kes = amount.amount * asset_kes
        ours_kes = platform_fee(runtime.settings, Flow.withdrawal, value_kes, CENT)
        ours = up(ours_kes / asset_kes, step)
    return [
        line(FeeKind.network, Money(amount=network_fee, asset=asset), cost.describe()),
        line(
            FeeKind.platform,
            Money(amount=ours, asset=asset),
            describe_platform(runtime.settings, Flow.withdrawal),
        ),
    ]


# ---------------------------------------------------------------------------- postings


async def fee_postings(
    session: AsyncSession, fees: Sequence[FeeLine], source_account_id: str
) -> list[Posting]:
    """Ledger legs moving every fee from `source_account_id` to the fee account of its
    asset: one leg per account (the ledger's rule), zero fees left out. Put them in the
    same `ledger.post` as the business change; if that change touches the same source
    account, combine both lists with `net_postings`."""
    totals: dict[Asset, Decimal] = defaultdict(Decimal)
    for fee in fees:
        totals[fee.amount.asset] += fee.amount.amount
    postings: list[Posting] = []
    for asset, total in sorted(totals.items()):
        if total == 0:
            continue
        account = await ledger.system_account(session, Purpose.fees, asset)
        postings += ledger.transfer(source_account_id, account.id, Money(amount=total, asset=asset))
    return postings


def net_postings(*groups: Sequence[Posting]) -> list[Posting]:
    """Combine legs on the same account into one; accounts that net to zero drop out."""
    totals: dict[tuple[str, Asset], Decimal] = defaultdict(Decimal)
    for posting in (p for group in groups for p in group):
        totals[(posting.account_id, posting.amount.asset)] += posting.amount.amount
    return [
        Posting(account_id, Money(amount=total, asset=asset))
        for (account_id, asset), total in totals.items()
        if total != 0
    ]
