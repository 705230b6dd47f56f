"""Prefixed, unguessable identifiers (`inv_…`, `usr_…`): 128 random bits in Crockford base32."""

from __future__ import annotations

import re
import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_LEN = 26  # 130 bits of room for 128 random bits

PREFIXES: frozenset[str] = frozenset(
    {
        "usr", "ses", "key", "acct", "jtx", "evt", "inv", "pay", "buy", "sell", "set",
        "wd", "tr", "quo", "whe", "whd", "adr", "req", "err", "otp", "ntf", "aud",
        "otx", "swp",
    }
)  # fmt: skip  # the id prefixes several a line

_PATTERN = re.compile(r"^([a-z]{2,5})_([0-9a-hjkmnp-tv-z]{26})$")


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    value = secrets.randbits(128)
    chars = []
    for _ in range(_BODY_LEN):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(chars))}"


def looks_like_id(value: str) -> bool:
    """Shaped like one of our ids, whatever its prefix (say, an id read back from a cursor)."""
    return _PATTERN.match(value) is not None and value.isascii()


def is_id(value: str, prefix: str) -> bool:
    match = _PATTERN.match(value)
    return match is not None and match.group(1) == prefix
