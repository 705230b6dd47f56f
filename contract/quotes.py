"""Quotes on the wire: a price held for a short time, with every fee spelled out.

A quote says what the customer gives and gets at one locked rate: `amount` of crypto,
`subtotal` (that crypto's KES value at `rate`), each fee, and `total` — the KES the
customer pays (buy), receives (sell), or the merchant nets (invoice). Amounts are Money
objects with string amounts; `rate` is KES per one unit of the asset.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

from pydantic import Field, field_serializer, field_validator, model_validator

from contract.base import RequestModel, ResponseModel
from contract.money import EXPONENT, SUPPORTED, Asset, Money, Network, requested_amount


class QuoteSide(StrEnum):
    buy = "buy"  # the customer pays KES (M-Pesa) and gets crypto
    sell = "sell"  # the customer gives crypto and gets KES (M-Pesa)


class QuoteFlow(StrEnum):
    """What the quote will be consumed by; `invoice` quotes are made by the invoice service."""

    buy = "buy"
    sell = "sell"
    invoice = "invoice"


class QuoteStatus(StrEnum):
    open = "open"
    consumed = "consumed"
    expired = "expired"


class FeeKind(StrEnum):
    platform = "platform"  # ours, per flow
    mpesa = "mpesa"  # Safaricom's charge for the transfer, passed on
    network = "network"  # the blockchain's fee for sending crypto out
    # What rounding to whole shillings left over (never more than a shilling or two);
    # shown rather than hidden inside another fee.
    rounding = "rounding"


class FeeLine(ResponseModel):
    kind: FeeKind
    amount: Money
    description: str


class QuoteRequest(RequestModel):
    side: QuoteSide
    asset: Asset
    network: Network
    amount: Decimal = Field(description="A decimal string, in `amount_currency`")
    amount_currency: Asset = Field(description="KES, or the asset itself")

    @field_validator("amount", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Decimal:
        return requested_amount(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.asset, self.network) not in SUPPORTED:
            raise ValueError(f"{self.asset} is not carried on {self.network}")
        if self.amount_currency not in (self.asset, Asset.KES):
            raise ValueError(f"amount_currency is KES or {self.asset}")
        if self.amount <= 0:
            raise ValueError("amount must be positive")
        places = EXPONENT[self.amount_currency]
        if self.amount != self.amount.quantize(Decimal(1).scaleb(-places)):
            raise ValueError(f"{self.amount_currency} has {places} decimals")
        return self


class Quote(ResponseModel):
    id: str
    object: str = "quote"
    status: QuoteStatus
    side: QuoteSide
    flow: QuoteFlow
    asset: Asset
    network: Network
    requested: Money = Field(description="What the caller asked for, in amount_currency")
    rate: Decimal = Field(description="KES per one unit of the asset, locked until expires_at")
    rate_sources: int
    rate_as_of: datetime
    amount: Money = Field(description="The crypto bought, sold or due")
    subtotal: Money
    fees: list[FeeLine]
    fee: Money = Field(description="The sum of the fees")
    total: Money
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None = None

    @field_serializer("rate")
    def _rate_string(self, rate: Decimal) -> str:
        return format(rate, "f")
