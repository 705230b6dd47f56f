"""Access tokens (HS256 JWTs, short-lived) and opaque refresh-token secrets.

Invariants: `alg` is pinned to HS256 (so `none` and algorithm confusion are refused);
the signing key is chosen by `kid` from the configured set, so keys rotate by adding a
new kid, making it active, then removing the old one after one access-token lifetime.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, OctKey

from backend.auth.errors import InvalidToken
from backend.settings import Settings
from contract.ids import new_id

ALGORITHM = "HS256"
ISSUER = "qpeapay"
AUDIENCE = "qpeapay-api"
_CLAIMS = jwt.JWTClaimsRegistry(
    iss={"essential": True, "value": ISSUER},
    aud={"essential": True, "value": AUDIENCE},
    sub={"essential": True},
    sid={"essential": True},
    exp={"essential": True},
    iat={"essential": True},
)


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    role: str


def _key(settings: Settings, kid: str) -> OctKey:
    secret = settings.jwt_keys.get(kid)
    if secret is None:
        raise InvalidToken()
    return OctKey.import_key(secret.get_secret_value())


def issue_access_token(settings: Settings, user_id: str, session_id: str, role: str) -> str:
    now = int(time.time())
    kid = settings.jwt_active_kid
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "sid": session_id,
        "role": role,
        "iat": now,
        "exp": now + settings.access_token_ttl_s,
        "jti": new_id("req"),
    }
    header = {"alg": ALGORITHM, "kid": kid, "typ": "JWT"}
    return jwt.encode(header, claims, _key(settings, kid), algorithms=[ALGORITHM])


def read_access_token(settings: Settings, token: str) -> AccessClaims:
    """Verify signature, algorithm, issuer, audience and expiry; anything off is 401."""

    def resolve(guest: GuestProtocol) -> OctKey:
        kid = guest.headers().get("kid")
        if not isinstance(kid, str):
            raise InvalidToken()
        return _key(settings, kid)

    try:
        decoded = jwt.decode(token, resolve, algorithms=[ALGORITHM])
        _CLAIMS.validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise InvalidToken() from exc
    claims = decoded.claims
    if not all(isinstance(claims.get(name), str) for name in ("sub", "sid", "role")):
        raise InvalidToken()
    return AccessClaims(user_id=claims["sub"], session_id=claims["sid"], role=claims["role"])


def new_refresh_token() -> str:
    """256 random bits; the client holds it, we keep only its hash."""
    return "rt_" + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 is enough for high-entropy random secrets (no guessing to slow down)."""
    return hashlib.sha256(secret.encode()).hexdigest()
