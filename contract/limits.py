"""Transaction limits on the wire: the limits that apply to a user, what remains of them, and
an admin's per-user override. Amounts are KES equivalents."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Self

from pydantic import Field, field_validator, model_validator

from contract.base import RequestModel, ResponseModel
from contract.errors import ErrorBody, ErrorDetail
from contract.kyc import KycTier
from contract.money import Money, requested_amount


class LimitAction(StrEnum):
    """What a limit restricts."""

    buy = "buy"
    sell = "sell"
    withdraw = "withdraw"
    settle = "settle"


class LimitName(StrEnum):
    """Which limit a request ran into (the `limit` of a `limit_exceeded` error)."""

    per_transaction = "per_transaction"
    daily = "daily"
    monthly = "monthly"
    hourly_count = "hourly_count"


class LimitStatus(ResponseModel):
    """One action's limits for one user, and what is left of each right now."""

    action: LimitAction
    tier: KycTier
    overridden: bool
    per_transaction: Money
    daily: Money
    daily_remaining: Money
    monthly: Money
    monthly_remaining: Money
    per_hour: int
    hourly_remaining: int


class UserLimits(ResponseModel):
    user_id: str
    data: list[LimitStatus]


class LimitOverrideRequest(RequestModel):
    """Replace a user's limits for one action; a field left out keeps the tier's value.
    An override with every field left out removes the override."""

    per_transaction: Decimal | None = Field(default=None, ge=0)
    daily: Decimal | None = Field(default=None, ge=0)
    monthly: Decimal | None = Field(default=None, ge=0)
    per_hour: int | None = Field(default=None, ge=0, le=1_000_000)
    reason: str = Field(min_length=3, max_length=500)

    @field_validator("per_transaction", "daily", "monthly", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal | None:
        return None if value is None else requested_amount(value)

    @model_validator(mode="after")
    def _whole_cents(self) -> Self:
        for value in (self.per_transaction, self.daily, self.monthly):
            if value is not None and value != value.quantize(Decimal("0.01")):
                raise ValueError("KES limits have at most 2 decimals")
        return self


class LimitOverride(ResponseModel):
    user_id: str
    action: LimitAction
    per_transaction: Money | None
    daily: Money | None
    monthly: Money | None
    per_hour: int | None
    reason: str
    set_by: str
    updated_at: datetime


class LimitErrorDetail(ErrorDetail):
    """The error of a `limit_exceeded` 403: which limit, and what is left of it. `remaining`
    is KES for an amount limit; `remaining_count` is transactions for the hourly count."""

    action: LimitAction
    limit: LimitName
    remaining: Money | None = None
    remaining_count: int | None = None


class LimitErrorBody(ErrorBody):
    error: LimitErrorDetail
