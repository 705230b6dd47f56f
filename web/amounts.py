"""Reading an amount a person typed into a form: the one parser every web form uses.

Invariants: a separator is never dropped or guessed. A point is the decimal separator; a
comma (or a space) may only group thousands, in groups of three before the point, so
"1,234.50", " 1 234.50 ", "1234.5" and "1.5" are read as written, while "1,5", "1,23" and
"1.234,5" are refused as ambiguous instead of becoming 15, 123 or 1.2345. Only ASCII digits
count, the result is positive and has no more decimals than its asset allows.
"""

from __future__ import annotations

import re
from decimal import Decimal

from contract.money import EXPONENT, MAX_REQUEST_DIGITS, Asset

# Spaces people (and phone keyboards) put between thousands: plain, no-break, thin ones.
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
_PLAIN = re.compile(r"[0-9]*(?:\.[0-9]*)?")
_GROUPED = re.compile(r"[1-9][0-9]{0,2}(?:(?P<sep>[, ])[0-9]{3})(?:(?P=sep)[0-9]{3})*(?:\.[0-9]*)?")
# More than a balance could ever hold; keeps absurd input out of Decimal arithmetic.
MAX_DIGITS = 24
SEPARATORS = "Use a point for decimals and commas only between thousands, e.g. 1,234.50 or 1.5."


class AmountError(ValueError):
    """An amount that cannot be read unambiguously; the message says what to type."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_amount(text: str, asset: Asset) -> Decimal:
    """The amount `text` says, in `asset`; AmountError with a message for the person."""
    typed = text.translate(_SPACES).strip()
    if not typed:
        raise AmountError("Enter an amount.")
    if typed.startswith("-"):
        raise AmountError("Enter an amount above zero.")
    if _PLAIN.fullmatch(typed) is None and _GROUPED.fullmatch(typed) is None:
        if any(mark in typed for mark in ", ") and re.fullmatch(r"[0-9., ]+", typed):
            raise AmountError(f"“{typed}” is unclear. {SEPARATORS}")
        raise AmountError("Enter the amount in digits, e.g. 1,234.50.")
    digits = typed.replace(",", "").replace(" ", "")
    if not any(char.isdigit() for char in digits):
        raise AmountError("Enter the amount in digits, e.g. 1,234.50.")
    if len(digits.partition(".")[0].lstrip("0")) > MAX_REQUEST_DIGITS:
        raise AmountError(
            f"Amounts have at most {MAX_REQUEST_DIGITS} digits before the decimal point."
        )
    if len(digits.replace(".", "").lstrip("0")) > MAX_DIGITS:
        raise AmountError("That amount is too large.")
    places = EXPONENT[asset]
    # Counted on the text: trailing zeros say nothing, and no arithmetic context can round.
    if len(digits.partition(".")[2].rstrip("0")) > places:
        raise AmountError(f"{asset} allows at most {places} decimals.")
    whole, _, fraction = digits.partition(".")
    fraction = fraction.rstrip("0")
    # Exact: built from ASCII digits and at most one point, never through arithmetic.
    value = Decimal(f"{whole or 0}.{fraction}" if fraction else whole or "0")
    if value <= 0:
        raise AmountError("Enter an amount above zero.")
    return value
