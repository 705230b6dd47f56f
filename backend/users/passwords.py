"""Password hashing (argon2id) and the password policy.

Invariants: only argon2id hashes are stored; verification runs off the event loop; a
sign-in for an unknown email still runs one full verification, so it takes as long as a
wrong password and the answer cannot tell them apart.
"""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backend.auth.errors import WeakPassword

MIN_LENGTH = 12
# argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, t=3, m=64 MiB, p=4).
# Changing them here makes every older hash get rehashed at its owner's next sign-in.
HASHER = PasswordHasher()
_COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
_DELEET = str.maketrans(
    {
        "@": "a",
        "4": "a",
        "0": "o",
        "1": "i",
        "!": "i",
        "3": "e",
        "$": "s",
        "5": "s",
        "7": "t",
        "+": "t",
    }
)
_TRAILING = re.compile(r"[\d\W_]+$")


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    lines = _COMMON_FILE.read_text().splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return HASHER.hash("not a real password, only here to spend the same time")


def is_common(password: str) -> bool:
    lowered = password.lower()
    common = _common()
    if lowered in common:
        return True
    # "P@ssw0rd2024!!" is "password" with decoration: strip trailing digits and symbols,
    # then undo the usual letter swaps.
    stem = _TRAILING.sub("", lowered)
    return (
        stem in common
        or stem.translate(_DELEET) in common
        or (_TRAILING.sub("", lowered.translate(_DELEET)) in common)
    )


def check_policy(password: str, email: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.", param="password")
    if is_common(password):
        raise WeakPassword(
            "This password is too common; pick something less guessable.", param="password"
        )
    local = email.split("@", 1)[0].lower()
    if len(local) >= 3 and local in password.lower():
        raise WeakPassword("Do not use your email address in the password.", param="password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; with no hash, spend the time and say False."""
    if stored is None:
        await asyncio.to_thread(_verify, _dummy_hash(), password)
        return False
    return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    return HASHER.check_needs_rehash(stored)
