"""Exchange rates on the wire: each pair's aggregated value, how many sources agreed, its age."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import field_serializer

from contract.base import ResponseModel
from contract.money import Asset


class Rate(ResponseModel):
    """One pair: `value` units of `quote` buy one unit of `base` (a mid-market median)."""

    pair: str
    base: Asset
    quote: Asset
    value: Decimal
    # Independent sources behind the value after outliers were dropped; for a derived
    # pair (BTC/KES = BTC/USD x USD/KES) the smaller count of its two legs.
    sources: int
    as_of: datetime
    age_seconds: int

    @field_serializer("value")
    def _as_string(self, value: Decimal) -> str:
        return format(value, "f")


class Rates(ResponseModel):
    """Every pair that is fresh enough to quote against; a stale pair is left out."""

    data: list[Rate]
    max_age_seconds: int
