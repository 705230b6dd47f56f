"""Sign-in: login (password, then TOTP when on), refresh with rotation and reuse detection,
logout, and the signed-in user's sessions.

Invariants: an unknown email and a wrong password get the same error after the same work;
a refresh token is exchanged at most once — presenting it again revokes its whole session
(the family) and is audited; refused sign-ins are audited even though the request fails.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth import ratelimit, tokens, twofactor
from backend.auth.errors import (
    AccountDisabled,
    CodeInvalid,
    CodeReused,
    InvalidCredentials,
    InvalidRefreshToken,
    OtpInvalid,
    OtpRequired,
    OtpReused,
    SessionNotFound,
)
from backend.auth.models import AuthSession, RefreshToken
from backend.db import unit_of_work, utcnow
from backend.errors import InvariantBroken
from backend.runtime import Runtime
from backend.users import passwords
from backend.users.models import User
from contract.auth import LoginRequest, TokenPair
from contract.ids import new_id

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-httpx", "Python"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def describe_device(user_agent: str) -> str:
    """ "Chrome on Android" from a User-Agent, or "Unknown device"."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if re.search(mark, user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


async def _issue(
    session: AsyncSession, runtime: Runtime, user: User, auth_session: AuthSession
) -> TokenPair:
    settings = runtime.settings
    refresh = tokens.new_refresh_token()
    expires = min(
        utcnow() + timedelta(seconds=settings.refresh_token_ttl_s), auth_session.expires_at
    )
    session.add(
        RefreshToken(
            token_hash=tokens.digest(refresh), session_id=auth_session.id, expires_at=expires
        )
    )
    await session.flush()
    return TokenPair(
        access_token=tokens.issue_access_token(settings, user.id, auth_session.id, user.role),
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_s,
    )


async def _refuse_password(
    runtime: Runtime, user: User | None, email: str, ip: str, reason: str
) -> None:
    """Count a wrong password against the account-and-address pair and the account's
    ceiling, and audit it (committed on its own: the request fails)."""
    await ratelimit.count_wrong_password(runtime, email, ip)
    await audit.record_now(
        runtime.sessionmaker, "auth.login_failed", outcome="failure",
        subject_user_id=user.id if user else None, ip=ip, reason=reason,
    )  # fmt: skip  # kept compact


async def login(
    session: AsyncSession,
    runtime: Runtime,
    data: LoginRequest,
    ip: str,
    user_agent: str,
    *,
    device: str | None = None,
) -> TokenPair:
    """Sign in. Wrong passwords are limited per account and address, so a guesser elsewhere
    never locks the owner out; past the account's overall ceiling only the password
    together with a valid 2FA code gets in."""
    settings = runtime.settings
    limiter = ratelimit.limiter(runtime)
    await limiter.hit(settings.rate_limit_login_ip, "login-ip", ip)
    # A device the web app vouched for, else the address (a direct caller has no other).
    await limiter.hit(settings.rate_limit_login_device, "login-device", device or f"ip:{ip}")
    await limiter.check(settings.rate_limit_login_account_ip, "login-pair", data.email, ip)
    ceiling = await ratelimit.account_ceiling_reached(runtime, data.email)
    user = await session.scalar(select(User).where(User.email == data.email))
    if ceiling:
        if user is None or not user.two_factor_enabled:
            await limiter.check(settings.rate_limit_login_account, "login-account", data.email)
        if not data.otp:
            # Asked before the password is checked, so this answer says nothing about it.
            raise OtpRequired(param="otp")
    if not await passwords.verify(user.password_hash if user else None, data.password):
        await _refuse_password(runtime, user, data.email, ip, "password")
        raise InvalidCredentials()
    if user is None:
        raise InvariantBroken("A verified password belongs to a user.")
    if user.disabled_at is not None:
        await audit.record_now(
            runtime.sessionmaker, "auth.login_failed", outcome="failure",
            subject_user_id=user.id, ip=ip, reason="disabled",
        )  # fmt: skip  # the arguments kept on two lines, not one per line
        raise AccountDisabled()
    if user.two_factor_enabled:
        if not data.otp:
            raise OtpRequired(param="otp")
        try:
            await twofactor.check(session, runtime, user, data.otp, ip)
        except CodeReused as exc:
            # The right code, already spent: the owner, who need only wait; not a failure.
            raise OtpReused(param="otp") from exc
        except CodeInvalid as exc:
            await _refuse_password(runtime, user, data.email, ip, "otp")
            raise OtpInvalid(param="otp") from exc
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(data.password)
    now = utcnow()
    auth_session = AuthSession(
        id=new_id("ses"),
        user_id=user.id,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.session_max_age_s),
        ip=ip,
        user_agent=user_agent[:400],
        device=describe_device(user_agent),
    )
    session.add(auth_session)
    pair = await _issue(session, runtime, user, auth_session)
    await audit.record(
        session,
        "auth.login_succeeded",
        actor_user_id=user.id,
        subject_user_id=user.id,
        subject_id=auth_session.id,
        ip=ip,
        two_factor=user.two_factor_enabled,
    )
    return pair


async def _revoke_family(runtime: Runtime, session_id: str, user_id: str, ip: str) -> None:
    # Committed on its own: the refresh request itself fails and rolls back.
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason="refresh_reuse")
        )
        await audit.record(
            session,
            "auth.refresh_reused",
            outcome="failure",
            subject_user_id=user_id,
            subject_id=session_id,
            ip=ip,
        )


async def refresh(
    session: AsyncSession, runtime: Runtime, refresh_token: str, ip: str, user_agent: str
) -> TokenPair:
    found = (
        await session.execute(
            select(RefreshToken, AuthSession, User)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .join(User, User.id == AuthSession.user_id)
            .where(RefreshToken.token_hash == tokens.digest(refresh_token))
            .with_for_update(of=RefreshToken)
        )
    ).one_or_none()
    if found is None:
        raise InvalidRefreshToken()
    token, auth_session, user = found
    now = utcnow()
    if token.used_at is not None:
        if auth_session.revoked_at is None:
            await _revoke_family(runtime, auth_session.id, user.id, ip)
        raise InvalidRefreshToken()
    if auth_session.revoked_at is not None or token.expires_at <= now:
        raise InvalidRefreshToken()
    if user.disabled_at is not None:
        raise AccountDisabled()
    token.used_at = now
    auth_session.last_seen_at = now
    auth_session.ip = ip
    if user_agent:
        auth_session.user_agent = user_agent[:400]
        auth_session.device = describe_device(user_agent)
    return await _issue(session, runtime, user, auth_session)


async def _revoke(
    session: AsyncSession, user_id: str, session_id: str, reason: str, ip: str
) -> bool:
    revoked = await session.scalar(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .returning(AuthSession.id)
    )
    if revoked is not None:
        await audit.record(
            session,
            f"auth.{reason}",
            actor_user_id=user_id,
            subject_user_id=user_id,
            subject_id=session_id,
            ip=ip,
        )
    return revoked is not None


async def logout(session: AsyncSession, user_id: str, session_id: str, ip: str) -> None:
    await _revoke(session, user_id, session_id, "logout", ip)


async def active_sessions(session: AsyncSession, user_id: str) -> list[AuthSession]:
    query = (
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
        .order_by(AuthSession.last_seen_at.desc())
    )
    return list((await session.scalars(query)).all())


async def revoke_session(session: AsyncSession, user_id: str, session_id: str, ip: str) -> None:
    """End one of the caller's sessions; another person's is simply not found."""
    if not await _revoke(session, user_id, session_id, "session_revoked", ip):
        raise SessionNotFound()


async def revoke_other_sessions(
    session: AsyncSession, user_id: str, keep_session_id: str, ip: str
) -> int:
    others = [s.id for s in await active_sessions(session, user_id) if s.id != keep_session_id]
    for other in others:
        await _revoke(session, user_id, other, "session_revoked", ip)
    return len(others)
