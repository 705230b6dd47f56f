"""Who may call an endpoint: the Access rules every Endpoint declares.

Callers authenticate with `Authorization: Bearer <token>`, where the token is either an
access JWT from /v1/auth/login or a merchant API key (`qp_test_…` / `qp_live_…`).

    signed_in()                       any signed-in user (customer, merchant or admin)
    signed_in(Role.customer)          only these roles (a JWT; API keys are refused)
    signed_in(..., key_scope=Scope.x) those roles, or a merchant API key with scope x
    merchant_key_or_user(Scope.x)     a merchant signed in, or a merchant API key with scope x
    admin_only                        a signed-in admin with two-factor sign-in on
    public_limited                    anyone, counted against the per-IP API limit

Each sets `call.principal` (user id, role, session or key id, key scopes) and counts the
request against the general per-client limit. Refusals: no or bad credentials → 401,
wrong role or missing scope → 403, an admin without 2FA on → 403 two_factor_required.
Ownership of a resource is the service's job: look rows up by `call.principal.user_id`
and answer 404 for anyone else's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from backend.api import ACCESS_TOKEN, API_KEY, Access, Call, Principal
from backend.apikeys import service as apikeys
from backend.auth import ratelimit
from backend.auth.errors import (
    AccountDisabled,
    ApiKeyNotAccepted,
    InsufficientScope,
    InvalidToken,
    RoleNotAllowed,
    TwoFactorRequired,
)
from backend.auth.models import AuthSession
from backend.auth.tokens import read_access_token
from backend.db import utcnow
from backend.errors import InvariantBroken, NotAuthenticated
from backend.users.models import User
from contract.apikeys import Scope
from contract.users import Role

ADMINS = frozenset({Role.admin})
# A session's "last seen" is refreshed at most this often, not on every request.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="qpeapay"'}
# No or bad credentials, wrong role or scope or a disabled account, the per-client limit.
_SIGNED_IN_STATUSES = frozenset({401, 403, 429})


def bearer_token(call: Call) -> str:
    header = call.request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated()
    return token


async def _user_from_jwt(call: Call, token: str) -> Principal:
    claims = read_access_token(call.runtime.settings, token)
    found = (
        await call.session.execute(
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.id == claims.session_id)
        )
    ).one_or_none()
    now = utcnow()
    if found is None:
        raise InvalidToken()
    auth_session, user = found
    # Checked on every request so sign-out, session revocation, disabling and role
    # changes take effect at once rather than when the access token expires.
    if (
        user.id != claims.user_id
        or auth_session.revoked_at is not None
        or auth_session.expires_at <= now
    ):
        raise InvalidToken()
    if user.disabled_at is not None:
        raise AccountDisabled()
    if now - auth_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        await call.session.execute(
            update(AuthSession).where(AuthSession.id == auth_session.id).values(last_seen_at=now)
        )
    return Principal(
        user_id=user.id,
        role=user.role,
        session_id=auth_session.id,
        two_factor=user.two_factor_enabled,
    )


async def _principal(call: Call) -> Principal:
    try:
        token = bearer_token(call)
        if apikeys.looks_like_key(token):
            key, owner = await apikeys.authenticate(
                call.session, call.runtime.settings, token, call.client_ip
            )
            return Principal(
                user_id=owner.id, role=owner.role, scopes=frozenset(key.scopes), api_key_id=key.id
            )
        return await _user_from_jwt(call, token)
    except NotAuthenticated as exc:
        exc.headers.update(_CHALLENGE)  # RFC 6750: a 401 names the scheme to use
        raise


async def _count(call: Call, principal: Principal) -> None:
    client = f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"
    await ratelimit.limiter(call.runtime).hit(call.runtime.settings.rate_limit_api, "api", client)


@dataclass(frozen=True)
class SignedIn:
    """A user with an access token, in one of `roles` (any role when empty); with
    `key_scope`, a merchant API key granted that scope is let in too."""

    roles: frozenset[Role]
    description: str
    key_scope: Scope | None = None
    statuses: frozenset[int] = _SIGNED_IN_STATUSES

    @property
    def security(self) -> list[dict[str, list[str]]]:
        required = [{ACCESS_TOKEN: sorted(role.value for role in self.roles)}]
        if self.key_scope is not None:
            required.append({API_KEY: [self.key_scope.value]})
        return required

    async def authorize(self, call: Call) -> None:
        principal = await _principal(call)
        if principal.api_key_id is not None:
            if self.key_scope is None:
                raise ApiKeyNotAccepted()
            if principal.scopes is None:
                raise InvariantBroken("An API key principal carries its scopes.")
            if self.key_scope.value not in principal.scopes:
                raise InsufficientScope(f"This API key lacks the {self.key_scope.value} scope.")
        if self.roles and Role(principal.role) not in self.roles:
            raise RoleNotAllowed()
        if self.roles == ADMINS and not principal.two_factor:
            # A stolen admin password alone must not reach every customer's account.
            raise TwoFactorRequired()
        await _count(call, principal)
        call.principal = principal


@dataclass(frozen=True)
class MerchantKeyOrUser:
    """A signed-in merchant (every scope), or a merchant API key granted `scope`."""

    scope: Scope
    description: str
    statuses: frozenset[int] = _SIGNED_IN_STATUSES

    @property
    def security(self) -> list[dict[str, list[str]]]:
        return [{ACCESS_TOKEN: [Role.merchant.value]}, {API_KEY: [self.scope.value]}]

    async def authorize(self, call: Call) -> None:
        principal = await _principal(call)
        if principal.role != Role.merchant:
            raise RoleNotAllowed()
        if principal.scopes is not None and self.scope.value not in principal.scopes:
            raise InsufficientScope(f"This API key lacks the {self.scope.value} scope.")
        await _count(call, principal)
        call.principal = principal


@dataclass(frozen=True)
class PublicLimited:
    """Anyone; requests are counted per client IP against the general API limit."""

    description: str = "public (rate limited per IP)"
    statuses: frozenset[int] = frozenset({429})

    @property
    def security(self) -> list[dict[str, list[str]]]:
        return []

    async def authorize(self, call: Call) -> None:
        limiter = ratelimit.limiter(call.runtime)
        await limiter.hit(call.runtime.settings.rate_limit_api, "api", f"ip:{call.client_ip}")


def signed_in(*roles: Role, key_scope: Scope | None = None) -> Access:
    names = ", ".join(sorted(role.value for role in roles)) or "any role"
    keys = f", or merchant API key with {key_scope.value}" if key_scope else ""
    return SignedIn(frozenset(roles), f"signed-in user ({names}){keys}", key_scope)


def merchant_key_or_user(scope: Scope) -> Access:
    return MerchantKeyOrUser(scope, f"merchant user, or merchant API key with {scope.value}")


admin_only: Access = signed_in(Role.admin)
public_limited: Access = PublicLimited()


def is_tenant_owned(access: Access) -> bool:
    """Routes over a merchant's own data: the authorization matrix walks these."""
    if isinstance(access, MerchantKeyOrUser):
        return True
    return isinstance(access, SignedIn) and access.roles == frozenset({Role.merchant})


def key_scope(access: Access) -> Scope | None:
    """The scope an API key needs to pass `access`; None where keys are refused."""
    if isinstance(access, MerchantKeyOrUser):
        return access.scope
    if isinstance(access, SignedIn):
        return access.key_scope
    return None


def is_admin_only(access: Access) -> bool:
    return isinstance(access, SignedIn) and access.roles == frozenset({Role.admin})
