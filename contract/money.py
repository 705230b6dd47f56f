"""Assets, networks and Money: exact Decimal amounts quantized to each asset's exponent.

Invariants: an amount never carries more decimals than its asset allows, money is never a
float, amounts travel as JSON strings, and arithmetic across two assets raises.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator, model_validator


class Asset(StrEnum):
    KES = "KES"
    USD = "USD"
    USDT = "USDT"
    BTC = "BTC"
    ETH = "ETH"
    TRX = "TRX"


class Network(StrEnum):
    """Where a crypto asset moves. USDT lives on two of them."""

    bitcoin = "bitcoin"
    ethereum = "ethereum"
    tron = "tron"


EXPONENT: dict[Asset, int] = {
    Asset.KES: 2,
    Asset.USD: 2,
    Asset.USDT: 6,
    Asset.BTC: 8,
    Asset.ETH: 18,
    Asset.TRX: 6,
}

# (asset, network) pairs we accept and hold; the native coins pay for gas on their network.
SUPPORTED: frozenset[tuple[Asset, Network]] = frozenset(
    {
        (Asset.BTC, Network.bitcoin),
        (Asset.USDT, Network.ethereum),
        (Asset.USDT, Network.tron),
        (Asset.ETH, Network.ethereum),
        (Asset.TRX, Network.tron),
    }
)


class Rounding(StrEnum):
    """Named at every use: what the customer pays rounds up, what we pay out rounds down."""

    customer_pays = "customer_pays"
    we_pay = "we_pay"


_ROUNDING_MODE = {Rounding.customer_pays: ROUND_UP, Rounding.we_pay: ROUND_DOWN}


class MixedAssets(ValueError):
    def __init__(self, left: Asset, right: Asset) -> None:
        super().__init__(f"cannot combine {left} with {right}")


# Decimal's default context keeps 28 significant digits, and quantize() raises rather than
# rounds when the result needs more: an amount of an asset may have as many digits before
# the point as its exponent leaves, less one for a rounding carry (9 for ETH, 25 for KES).
PRECISION = 28

# What a caller may ask for in one request: under ten billion of any asset, beyond any
# payment or limit this product handles, and small enough that every fee, conversion and
# sum derived from it stays well inside Money's range.
MAX_REQUEST_DIGITS = 10


def quantum(asset: Asset) -> Decimal:
    return Decimal(1).scaleb(-EXPONENT[asset])


def whole_digits(value: Decimal) -> int:
    """Digits before the decimal point (0 for a zero or a pure fraction)."""
    return max(value.adjusted() + 1, 0) if value else 0


def decimal_places(value: Decimal) -> int:
    """Digits after the decimal point, trailing zeros aside."""
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return 0
    significant = "".join(map(str, digits)).rstrip("0")
    return max(-(exponent + len(digits) - len(significant)), 0) if significant else 0


def max_whole_digits(asset: Asset) -> int:
    return PRECISION - EXPONENT[asset] - 1


def requested_amount(value: Any) -> Decimal:
    """Parse an amount a caller sent: at most MAX_REQUEST_DIGITS digits before the decimal
    point and no more decimals than any asset has, so quantizing it to any asset is exact
    or rounds within Decimal's precision."""
    parsed = to_decimal(value)
    if whole_digits(parsed) > MAX_REQUEST_DIGITS:
        raise ValueError(
            f"amounts have at most {MAX_REQUEST_DIGITS} digits before the decimal point"
        )
    most = max(EXPONENT.values())
    if decimal_places(parsed) > most:
        raise ValueError(f"amounts have at most {most} decimals")
    return parsed


def to_decimal(value: Any) -> Decimal:
    """Parse a wire amount. Floats are refused: they cannot say what they mean exactly."""
    if isinstance(value, (bool, float)):
        raise ValueError("amounts are strings or integers, never floats")
    if isinstance(value, Decimal):
        parsed = value
    elif isinstance(value, int | str):
        try:
            parsed = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError("not a decimal number") from exc
    else:
        raise ValueError("amounts are strings or integers")
    if not parsed.is_finite():
        raise ValueError("amount must be finite")
    return parsed


class Money(BaseModel):
    """An exact amount of one asset."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    asset: Asset

    @field_validator("amount", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Decimal:
        return to_decimal(value)

    @model_validator(mode="after")
    def _exact(self) -> Self:
        if whole_digits(self.amount) > max_whole_digits(self.asset):
            raise ValueError(
                f"{self.asset} amounts have at most {max_whole_digits(self.asset)} digits "
                "before the decimal point"
            )
        if self.amount != self.amount.quantize(quantum(self.asset)):
            raise ValueError(f"{self.asset} has {EXPONENT[self.asset]} decimals")
        # Normalise the exponent so equal amounts compare and serialise alike.
        object.__setattr__(self, "amount", self.amount.quantize(quantum(self.asset)))
        return self

    @field_serializer("amount")
    def _as_string(self, amount: Decimal) -> str:
        return format(amount, "f")

    @classmethod
    def of(cls, amount: Decimal | int | str, asset: Asset | str) -> Money:
        return cls(amount=to_decimal(amount), asset=Asset(asset))

    @classmethod
    def zero(cls, asset: Asset) -> Money:
        return cls(amount=Decimal(0), asset=asset)

    @classmethod
    def rounded(cls, amount: Decimal, asset: Asset, rounding: Rounding) -> Money:
        """Quantize an exact intermediate result, rounding the way the caller names."""
        if whole_digits(amount) > max_whole_digits(asset):
            raise ValueError(f"{amount} {asset} is beyond what an amount of it can hold")
        return cls(
            amount=amount.quantize(quantum(asset), rounding=_ROUNDING_MODE[rounding]),
            asset=asset,
        )

    def _same(self, other: Money) -> None:
        if self.asset != other.asset:
            raise MixedAssets(self.asset, other.asset)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount + other.amount, asset=self.asset)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount - other.amount, asset=self.asset)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, asset=self.asset)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_negative(self) -> bool:
        return self.amount < 0

    def minor_units(self) -> int:
        """Integer count of the asset's smallest unit (satoshi, sun, cent)."""
        return int(self.amount.scaleb(EXPONENT[self.asset]))

    @classmethod
    def from_minor_units(cls, units: int, asset: Asset) -> Money:
        return cls(amount=Decimal(units).scaleb(-EXPONENT[asset]), asset=asset)

    def __str__(self) -> str:
        return f"{format(self.amount, 'f')} {self.asset}"
