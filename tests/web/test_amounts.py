"""The amount parser every web form uses: what people here type is read as written, anything
whose separators could mean two things is refused with words saying what to type, and no
separator is ever silently dropped."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from contract.money import Asset
from web.amounts import AmountError, parse_amount


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("1,234.50", "1234.50"),
        ("1.5", "1.5"),
        ("1234.5", "1234.5"),
        (" 1 234.50 ", "1234.50"),
        ("1\u00a0234.50", "1234.50"),  # a no-break space, as some keyboards insert
        ("12,345,678.123456", "12345678.123456"),
        ("1,234", "1234"),
        (".5", "0.5"),
        ("7.", "7"),
        ("2.5000000", "2.5"),  # trailing zeros say nothing, even past the asset's decimals
    ],
)
def test_what_people_type_is_read_as_written(typed: str, read: str) -> None:
    assert parse_amount(typed, Asset.USDT) == Decimal(read)


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("1,5", "unclear"),
        ("1,23", "unclear"),
        ("1.234,5", "unclear"),
        ("12,34.5", "unclear"),
        ("1,2345", "unclear"),
        ("0,500", "unclear"),
        ("1 234,50", "unclear"),
        ("1,234 567", "unclear"),
        ("1.2.3", "in digits"),
        ("abc", "in digits"),
        ("1e3", "in digits"),
        ("NaN", "in digits"),
        ("٣", "in digits"),  # a digit, but not one the person can check on the review
        ("", "Enter an amount."),
        ("   ", "Enter an amount."),
        ("0", "above zero"),
        ("0.000", "above zero"),
        ("-5", "above zero"),
        ("1.0000001", "USDT allows at most 6 decimals."),
        ("9" * 30, "at most 10 digits before the decimal point"),
        ("0." + "1" * 30, "too large"),
    ],
)
def test_ambiguous_or_impossible_amounts_are_refused_with_what_to_do(
    typed: str, words: str
) -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount(typed, Asset.USDT)
    assert words in refused.value.message


def test_the_decimals_allowed_are_the_assets() -> None:
    assert parse_amount("0.00000001", Asset.BTC) == Decimal("0.00000001")
    with pytest.raises(AmountError, match="BTC allows at most 8 decimals"):
        parse_amount("0.000000001", Asset.BTC)


amounts = st.decimals(
    min_value=Decimal("0.000001"), max_value=Decimal("9999999999.999999"), places=6,
    allow_nan=False, allow_infinity=False,
)  # fmt: skip


@given(amounts, st.sampled_from([",", " ", ""]))
def test_any_amount_written_with_thousands_separators_reads_back_exactly(
    value: Decimal, separator: str
) -> None:
    typed = f"{value:,f}".replace(",", separator)
    assert parse_amount(typed, Asset.USDT) == value


@given(st.text(alphabet="0123456789,. ", max_size=14))
@example("1,5")
@example("10,50")
@example("1.234,5")
def test_a_separator_is_never_dropped_or_turned_into_a_point(typed: str) -> None:
    try:
        value = parse_amount(typed, Asset.USDT)
    except AmountError:
        return
    stripped = typed.strip()
    whole, _, fraction = stripped.partition(".")
    # Accepted: commas or spaces only group thousands, before the one point...
    if re.search(r"[, ]", whole):
        assert re.fullmatch(r"[1-9][0-9]{0,2}([, ][0-9]{3})+", whole), typed
        assert len(set(re.findall(r"[, ]", whole))) == 1, typed
    assert not re.search(r"[, ]", fraction), typed
    # ...and the value is the digits as written, with that point where it was typed.
    assert value == Decimal(re.sub(r"[, ]", "", stripped).rstrip(".") or "0")


@given(st.text(max_size=40))
def test_anything_at_all_is_either_an_amount_or_a_clear_refusal(typed: str) -> None:
    try:
        value = parse_amount(typed, Asset.BTC)
    except AmountError as refused:
        assert refused.message.endswith(".")
        return
    assert value > 0 and value == value.quantize(Decimal("0.00000001"))


def test_no_page_reads_an_amount_but_through_the_parser() -> None:
    """Stripping commas by hand is how "1,5" became 15: only web.amounts reads typed amounts."""
    web = Path(__file__).resolve().parents[2] / "web"
    offenders = [
        path.name
        for path in web.glob("*.py")
        if path.name != "amounts.py"
        and re.search(
            r"""replace\(\s*["'],["']|Decimal\(\s*(values|form|text)\b""", path.read_text()
        )
    ]
    assert offenders == []
