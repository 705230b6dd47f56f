"""Amounts are bounded in digits: whatever a caller sends as an amount, a model either takes
it or refuses it with a ValidationError saying what is allowed; decimal arithmetic never
raises InvalidOperation out of a validator."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from contract.limits import LimitOverrideRequest
from contract.money import (
    EXPONENT,
    MAX_REQUEST_DIGITS,
    Asset,
    Money,
    Rounding,
    max_whole_digits,
)
from contract.quotes import QuoteRequest
from contract.wallets import TransferRequest, WithdrawalPreviewQuery, WithdrawalRequest

HOSTILE = [
    "1e30", "123456789012345678901234567890", "1E+400", "-1e30", "1E+999999999999999999",
    "1E-1000000000", "0." + "0" * 3000 + "1", "9" * 3000, 10**400, "99999999999",
]  # fmt: skip
TOO_LARGE = ["1e30", "123456789012345678901234567890", "1E+400", "-1e30", 10**400, "99999999999"]

ADDRESS = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"


def requests_with(amount: Any) -> list[tuple[type[BaseModel], dict[str, Any]]]:
    """Every request model that carries an amount, with `amount` in each amount field."""
    withdrawal = {"asset": "USDT", "network": "tron", "address": ADDRESS, "amount": amount}
    return [
        (TransferRequest, {"to": "a@example.com", "asset": "USDT", "amount": amount}),
        (WithdrawalRequest, withdrawal),
        (WithdrawalRequest, {**withdrawal, "amount": "1", "max_fee": amount}),
        (WithdrawalPreviewQuery, withdrawal),
        *[
            (QuoteRequest, {"side": "buy", "asset": "ETH", "network": "ethereum",
                            "amount": amount, "amount_currency": currency})
            for currency in ("ETH", "KES")
        ],
        *[
            (LimitOverrideRequest, {field: amount, "reason": "a big merchant"})
            for field in ("per_transaction", "daily", "monthly")
        ],
    ]  # fmt: skip


@pytest.mark.parametrize("amount", HOSTILE, ids=lambda value: str(value)[:24])
def test_hostile_amounts_are_taken_or_refused_never_crash(amount: Any) -> None:
    for model, data in requests_with(amount):
        with contextlib.suppress(ValidationError):
            model.model_validate(data)
    for asset in Asset:
        with contextlib.suppress(ValidationError):
            Money(amount=amount, asset=asset)


@pytest.mark.parametrize("amount", TOO_LARGE, ids=lambda value: str(value)[:24])
def test_too_large_a_request_says_what_is_allowed(amount: Any) -> None:
    for model, data in requests_with(amount):
        with pytest.raises(ValidationError, match=f"at most {MAX_REQUEST_DIGITS} digits before"):
            model.model_validate(data)


def test_the_largest_request_amount_is_taken() -> None:
    largest = "9" * MAX_REQUEST_DIGITS
    for model, data in requests_with(largest):
        model.model_validate(data)
    ether = QuoteRequest(side="buy", asset=Asset.ETH, network="ethereum",
                         amount=largest + "." + "9" * 18, amount_currency=Asset.ETH)  # fmt: skip
    assert ether.amount.adjusted() == MAX_REQUEST_DIGITS - 1


@pytest.mark.parametrize("asset", list(Asset))
def test_money_holds_as_many_whole_digits_as_the_asset_exponent_leaves(asset: Asset) -> None:
    digits = max_whole_digits(asset)
    fullest = "9" * digits + "." + "9" * EXPONENT[asset]
    assert Money.of(fullest, asset).amount == Decimal(fullest)
    with pytest.raises(ValidationError, match=f"at most {digits} digits before"):
        Money.of("1" + "0" * digits, asset)


@pytest.mark.parametrize("asset", list(Asset))
def test_rounding_up_to_the_next_digit_is_refused_not_a_crash(asset: Asset) -> None:
    digits = max_whole_digits(asset)
    nines = Decimal("9" * digits + "." + "9" * 40)
    with pytest.raises(ValueError, match=f"at most {digits} digits"):
        Money.rounded(nines, asset, Rounding.customer_pays)
    assert Money.rounded(nines, asset, Rounding.we_pay).amount < 10**digits
    with pytest.raises(ValidationError):
        Money(amount=nines, asset=asset)


def test_a_request_amount_carrying_into_an_eleventh_digit_is_refused_cleanly() -> None:
    carry = "9" * MAX_REQUEST_DIGITS + "." + "9" * 19
    for currency in ("ETH", "KES"):
        with pytest.raises(ValidationError, match="at most 18 decimals"):
            QuoteRequest.model_validate({"side": "buy", "asset": "ETH", "network": "ethereum",
                                         "amount": carry, "amount_currency": currency})  # fmt: skip


def test_per_hour_fits_the_column() -> None:
    with pytest.raises(ValidationError):
        LimitOverrideRequest(per_hour=10**400, reason="too many")
    with pytest.raises(ValidationError):
        LimitOverrideRequest(per_hour=2**31, reason="too many")


decimal_text = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-", "+"]),
    st.text("0123456789", min_size=1, max_size=40),
    st.just("") | st.text("0123456789", max_size=40).map(lambda digits: "." + digits),
    st.just("") | st.integers(-(10**20), 10**20).map(lambda n: f"e{n}"),
)


@given(decimal_text | st.text(max_size=20) | st.integers(), st.sampled_from(list(Asset)))
def test_any_amount_is_taken_or_refused_never_crashes(amount: Any, asset: Asset) -> None:
    with contextlib.suppress(ValidationError):
        Money(amount=amount, asset=asset)
    for model, data in requests_with(amount):
        with contextlib.suppress(ValidationError):
            model.model_validate(data)
