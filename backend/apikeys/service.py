"""Merchant API keys: create (secret returned once), list, revoke, and authenticate a key.

Invariants: a key belongs to a merchant; the secret's SHA-256 is the only copy we keep;
`qp_live_` keys only work in production and `qp_test_` keys only outside it, so a test
key pasted into a live integration fails loudly instead of moving real money.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.apikeys.models import ApiKey
from backend.audit import service as audit
from backend.auth.errors import AccountDisabled, InvalidToken
from backend.auth.tokens import digest
from backend.db import utcnow
from backend.errors import NotFound
from backend.settings import Environment, Settings
from backend.users.models import User
from contract.apikeys import ApiKeyCreate
from contract.ids import new_id
from contract.users import Role

PREFIXES = ("qp_test_", "qp_live_")
_VISIBLE = 12  # "qp_test_" + 4 characters of the secret
# last_used_at (and the "api_key.used" audit row) is written at most this often per key,
# so a busy integration does not turn every request into a write.
USE_RECORD_INTERVAL = timedelta(minutes=1)


def mode_for(settings: Settings) -> str:
    return "live" if settings.environment is Environment.production else "test"


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIXES)


async def create(
    session: AsyncSession, settings: Settings, merchant: User, data: ApiKeyCreate, ip: str
) -> tuple[ApiKey, str]:
    mode = mode_for(settings)
    secret = f"qp_{mode}_{secrets.token_urlsafe(30)}"
    key = ApiKey(
        id=new_id("key"),
        user_id=merchant.id,
        name=data.name,
        mode=mode,
        prefix=secret[:_VISIBLE],
        secret_hash=digest(secret),
        scopes=sorted({scope.value for scope in data.scopes}),
    )
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        "api_key.created",
        actor_user_id=merchant.id,
        subject_user_id=merchant.id,
        subject_id=key.id,
        ip=ip,
        scopes=key.scopes,
    )
    return key, secret


async def list_for(session: AsyncSession, user_id: str) -> list[ApiKey]:
    query = (
        select(ApiKey)
        .where(ApiKey.user_id == user_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    )
    return list((await session.scalars(query)).all())


async def revoke(session: AsyncSession, user_id: str, key_id: str, ip: str) -> ApiKey:
    """Revoke one of the caller's keys; someone else's key is simply not found."""
    key = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id).with_for_update()
    )
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await audit.record(
            session,
            "api_key.revoked",
            actor_user_id=user_id,
            subject_user_id=user_id,
            subject_id=key.id,
            ip=ip,
        )
    return key


async def authenticate(
    session: AsyncSession, settings: Settings, secret: str, ip: str
) -> tuple[ApiKey, User]:
    """The live key and its merchant for `secret`, or 401 (unknown/revoked) / 403 (disabled)."""
    if not secret.startswith(f"qp_{mode_for(settings)}_"):
        raise InvalidToken("This API key is not valid here.")
    found = (
        await session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.secret_hash == digest(secret), ApiKey.revoked_at.is_(None))
        )
    ).one_or_none()
    if found is None:
        raise InvalidToken("This API key is not valid here.")
    key, owner = found
    if owner.disabled_at is not None or owner.role != Role.merchant:
        raise AccountDisabled()
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= USE_RECORD_INTERVAL:
        # Compare-and-set so concurrent requests record one use, not one each.
        recorded = await session.scalar(
            update(ApiKey)
            .where(
                ApiKey.id == key.id,
                (ApiKey.last_used_at.is_(None))
                | (ApiKey.last_used_at <= now - USE_RECORD_INTERVAL),
            )
            .values(last_used_at=now)
            .returning(ApiKey.id)
        )
        if recorded is not None:
            await audit.record(
                session,
                "api_key.used",
                actor_user_id=owner.id,
                actor_api_key_id=key.id,
                subject_user_id=owner.id,
                subject_id=key.id,
                ip=ip,
            )
    return key, owner
