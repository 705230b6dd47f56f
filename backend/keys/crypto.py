"""Sealing a small secret with AES-256-GCM under a key derived from an environment secret.

Invariants: the key-encryption key (KEK) is PBKDF2-HMAC-SHA256 over the secret with at
least 600,000 iterations and a random 16-byte salt; every seal draws a fresh salt and a
fresh 12-byte nonce; associated data binds a sealed value to where it belongs, so a copy
moved elsewhere does not open. No secret, key or plaintext reaches an exception or repr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from pydantic import SecretStr

MIN_ITERATIONS = 600_000  # OWASP's 2023 floor for PBKDF2-HMAC-SHA256
SALT_BYTES = 16
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256


class Unsealable(Exception):
    """The ciphertext does not open with this secret and associated data."""

    def __init__(self) -> None:
        super().__init__("authentication failed: wrong secret or altered data")


@dataclass(frozen=True)
class Sealed:
    salt: bytes
    nonce: bytes
    ciphertext: bytes = field(repr=False)
    iterations: int


@lru_cache(maxsize=8)
def _kek(secret: bytes, salt: bytes, iterations: int) -> AESGCM:
    """PBKDF2 is slow on purpose (~0.2 s); one derivation per (secret, salt) per process."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, iterations=iterations)
    return AESGCM(kdf.derive(secret))


def seal(plaintext: bytes, secret: SecretStr, *, aad: bytes, iterations: int) -> Sealed:
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"PBKDF2 needs at least {MIN_ITERATIONS} iterations")
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    cipher = _kek(secret.get_secret_value().encode(), salt, iterations)
    return Sealed(salt, nonce, cipher.encrypt(nonce, plaintext, aad), iterations)


def unseal(sealed: Sealed, secret: SecretStr, *, aad: bytes) -> bytes:
    cipher = _kek(secret.get_secret_value().encode(), sealed.salt, sealed.iterations)
    try:
        return cipher.decrypt(sealed.nonce, sealed.ciphertext, aad)
    except InvalidTag:
        raise Unsealable() from None
