"""Per-purpose keys derived from SECRET_KEY: AES-256-GCM sealing for secrets we must read
back (TOTP seeds) and keyed digests for short codes we only compare (6-digit codes,
recovery codes), which a plain hash would not protect from a guess-every-code search.

Invariant: each purpose gets its own HKDF-derived key, so one never opens another's data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backend.settings import Settings

_VERSION = "v1"


def derive_key(settings: Settings, purpose: str) -> bytes:
    """The 32-byte key for `purpose` (HKDF-SHA256 over SECRET_KEY, info `qpeapay:<purpose>`)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"qpeapay:{purpose}".encode())
    return hkdf.derive(settings.secret_key.get_secret_value().encode())


def seal(settings: Settings, purpose: str, plaintext: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(derive_key(settings, purpose)).encrypt(
        nonce, plaintext.encode(), purpose.encode()
    )
    return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(settings: Settings, purpose: str, sealed: str) -> str:
    version, _, payload = sealed.partition(".")
    if version != _VERSION:
        raise ValueError(f"unknown sealing version {version!r}")
    raw = base64.urlsafe_b64decode(payload)
    plain = AESGCM(derive_key(settings, purpose)).decrypt(raw[:12], raw[12:], purpose.encode())
    return plain.decode()


def keyed_digest(settings: Settings, purpose: str, value: str) -> str:
    return hmac.new(derive_key(settings, purpose), value.encode(), hashlib.sha256).hexdigest()


def same(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
