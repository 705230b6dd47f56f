"""Shape and defaults of the per-KYC-tier limits table the settings carry (KES equivalents).

Tier 0 moves no money; tier 1 (phone and email verified) gets everyday limits; tier 2
(documents checked) higher ones. The figures are a deployment's business decision: these
defaults keep inside M-Pesa's KES 250,000 per transaction and are meant to be overridden.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contract.kyc import KycTier
from contract.limits import LimitAction
from contract.money import to_decimal


class LimitSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    per_transaction: Decimal = Field(ge=0)
    daily: Decimal = Field(ge=0)
    monthly: Decimal = Field(ge=0)
    per_hour: int = Field(ge=0)

    @field_validator("per_transaction", "daily", "monthly", mode="before")
    @classmethod
    def _exact(cls, value: object) -> Decimal:
        return to_decimal(value)

    @model_validator(mode="after")
    def _nested(self) -> Self:
        if not self.per_transaction <= self.daily <= self.monthly:
            raise ValueError("limits must nest: per_transaction <= daily <= monthly")
        return self


def _same(per_transaction: int, daily: int, monthly: int, per_hour: int) -> LimitSet:
    return LimitSet(
        per_transaction=Decimal(per_transaction),
        daily=Decimal(daily),
        monthly=Decimal(monthly),
        per_hour=per_hour,
    )


_NOTHING = _same(0, 0, 0, 0)

DEFAULT_LIMITS: dict[KycTier, dict[LimitAction, LimitSet]] = {
    KycTier.tier_0: dict.fromkeys(LimitAction, _NOTHING),
    KycTier.tier_1: {
        LimitAction.buy: _same(70_000, 150_000, 1_000_000, 10),
        LimitAction.sell: _same(70_000, 150_000, 1_000_000, 10),
        LimitAction.withdraw: _same(70_000, 150_000, 1_000_000, 10),
        LimitAction.settle: _same(150_000, 300_000, 3_000_000, 20),
    },
    KycTier.tier_2: {
        LimitAction.buy: _same(250_000, 1_000_000, 10_000_000, 30),
        LimitAction.sell: _same(250_000, 1_000_000, 10_000_000, 30),
        LimitAction.withdraw: _same(250_000, 1_000_000, 10_000_000, 30),
        LimitAction.settle: _same(250_000, 3_000_000, 30_000_000, 60),
    },
}


def check_limits(
    table: dict[KycTier, dict[LimitAction, LimitSet]],
) -> dict[KycTier, dict[LimitAction, LimitSet]]:
    """Every tier names every action, so a lookup never falls through to 'unlimited'."""
    for tier in KycTier:
        missing = [action for action in LimitAction if action not in table.get(tier, {})]
        if missing:
            raise ValueError(f"limits for {tier} miss {', '.join(missing)}")
    return table
