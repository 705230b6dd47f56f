"""Shapes of the fee configuration the settings carry (platform fees per flow, M-Pesa tariff
bands, network fee defaults) and their defaults. Imports nothing but contract and pydantic,
so backend.settings can use it.

Invariants checked at start-up: tariff bands are whole shillings, contiguous and sorted,
with charges that never fall as amounts rise (the gross-up in the fee service relies on it).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contract.money import Asset, Network, to_decimal


class Flow(StrEnum):
    """A kind of money movement that carries a platform fee."""

    invoice = "invoice"
    buy = "buy"
    sell = "sell"
    settlement = "settlement"
    withdrawal = "withdrawal"


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlatformFee(_Config):
    """`percent` of the amount plus `fixed_kes`, never less than `minimum_kes`."""

    percent: Decimal = Field(default=Decimal(0), ge=0, lt=100)
    fixed_kes: Decimal = Field(default=Decimal(0), ge=0)
    minimum_kes: Decimal = Field(default=Decimal(0), ge=0)

    @field_validator("percent", "fixed_kes", "minimum_kes", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return to_decimal(value)


class TariffBand(_Config):
    """M-Pesa charges `charge` KES for a transfer of `low`..`high` KES inclusive."""

    low: int = Field(ge=1)
    high: int
    charge: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.high < self.low:
            raise ValueError(f"band {self.low}..{self.high} is empty")
        return self


def check_tariff(bands: list[TariffBand]) -> list[TariffBand]:
    if not bands:
        raise ValueError("a tariff needs at least one band (it also sets the min and max)")
    for before, after in pairwise(bands):
        if after.low != before.high + 1:
            raise ValueError(f"bands must be contiguous: {before.high} then {after.low}")
        if after.charge < before.charge:
            raise ValueError(f"charges must not fall: {before.charge} then {after.charge}")
    return bands


class NetworkFeeDefault(_Config):
    """A network's fee price when no connector answers: BTC sat/vB, ETH wei/gas, TRON sun/energy."""

    unit_price: int = Field(ge=0)
    unit: str


class TransferCost(_Config):
    """What one transfer of an asset uses: `units` at the network's unit price plus a
    `fixed_minor` part in the native coin's smallest unit (e.g. TRON bandwidth burnt)."""

    units: int = Field(ge=0)
    fixed_minor: int = Field(default=0, ge=0)


# Platform fees per flow: a business decision, so every deployment sets its own (FEE_PLATFORM).
DEFAULT_PLATFORM_FEES: dict[Flow, PlatformFee] = {
    Flow.invoice: PlatformFee(percent=Decimal("1.0")),
    Flow.buy: PlatformFee(percent=Decimal("1.5"), minimum_kes=Decimal(5)),
    Flow.sell: PlatformFee(percent=Decimal("1.5"), minimum_kes=Decimal(5)),
    Flow.settlement: PlatformFee(fixed_kes=Decimal(0)),
    Flow.withdrawal: PlatformFee(fixed_kes=Decimal(10)),
}

# STK push into our paybill: Safaricom bills the business, not the payer, under the usual
# Lipa na M-Pesa contract; one zero-charge band still bounds the amount (KES 1..250,000).
DEFAULT_C2B_TARIFF: list[TariffBand] = [TariffBand(low=1, high=250_000, charge=0)]

# B2C payouts, KES 10..250,000 per transaction. Illustrative bands: set MPESA_B2C_TARIFF to
# the tariff in your Safaricom contract.
DEFAULT_B2C_TARIFF: list[TariffBand] = [
    TariffBand(low=10, high=100, charge=0),
    TariffBand(low=101, high=1_500, charge=5),
    TariffBand(low=1_501, high=5_000, charge=9),
    TariffBand(low=5_001, high=20_000, charge=11),
    TariffBand(low=20_001, high=250_000, charge=13),
]

DEFAULT_NETWORK_FEES: dict[Network, NetworkFeeDefault] = {
    Network.bitcoin: NetworkFeeDefault(unit_price=10, unit="sat/vB"),
    Network.ethereum: NetworkFeeDefault(unit_price=20_000_000_000, unit="wei/gas"),
    Network.tron: NetworkFeeDefault(unit_price=210, unit="sun/energy"),
}

# Keyed "ASSET:network". Bitcoin: a P2WPKH spend, 1 input 2 outputs; Ethereum: gas of a
# plain send and of an ERC-20 transfer; Tron: TRC-20 transfer energy plus its bandwidth,
# and a TRX send's bandwidth (burnt at 1,000 sun a byte when no free bandwidth is left).
DEFAULT_TRANSFER_COSTS: dict[str, TransferCost] = {
    f"{Asset.BTC}:{Network.bitcoin}": TransferCost(units=141),
    f"{Asset.ETH}:{Network.ethereum}": TransferCost(units=21_000),
    f"{Asset.USDT}:{Network.ethereum}": TransferCost(units=65_000),
    f"{Asset.TRX}:{Network.tron}": TransferCost(units=0, fixed_minor=270_000),
    f"{Asset.USDT}:{Network.tron}": TransferCost(units=65_000, fixed_minor=345_000),
}
