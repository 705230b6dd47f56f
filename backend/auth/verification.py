"""Email and phone verification: 6-digit codes sent through the notifications outbox.

Invariants: only a keyed digest of a code is stored; a code lives 10 minutes and allows
5 guesses (also bounded per account in Redis); only the newest code for a channel counts
(password reset codes, in the same table, keep their own newest: backend/auth/passwords);
verifying proves the address the code was sent to, so a changed address needs a new code.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth import ratelimit, sealing
from backend.auth.errors import AlreadyVerified, CodeInvalid
from backend.auth.models import VerificationCode
from backend.db import unit_of_work, utcnow
from backend.notifications import service as notifications
from backend.runtime import Runtime
from backend.users.models import User
from contract.auth import CodeSent, VerificationChannel
from contract.ids import new_id
from contract.notifications import Channel

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
# The code row's purpose (other purposes, like password reset, keep their own newest code).
VERIFY = "verify"
_PURPOSE = "verification-code"


def _target(user: User, channel: VerificationChannel) -> str:
    return user.email if channel is VerificationChannel.email else user.phone


def _verified(user: User, channel: VerificationChannel) -> bool:
    stamp = (
        user.email_verified_at if channel is VerificationChannel.email else user.phone_verified_at
    )
    return stamp is not None


async def send_code(
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    channel: VerificationChannel,
    *,
    count_against_limit: bool = True,
) -> CodeSent:
    if _verified(user, channel):
        raise AlreadyVerified(f"Your {channel.value} is already verified.")
    if count_against_limit:
        await ratelimit.limiter(runtime).hit(
            runtime.settings.rate_limit_code_send, "code-send", user.id, channel.value
        )
    code = f"{secrets.randbelow(10**6):06d}"
    row = VerificationCode(
        id=new_id("otp"),
        user_id=user.id,
        purpose=VERIFY,
        channel=channel.value,
        target=_target(user, channel),
        code_hash="",
        attempts=0,
        expires_at=utcnow() + CODE_TTL,
    )
    # The digest covers the row id, so equal codes never share a digest.
    row.code_hash = sealing.keyed_digest(runtime.settings, _PURPOSE, f"{row.id}:{code}")
    session.add(row)
    minutes = int(CODE_TTL.total_seconds() // 60)
    if channel is VerificationChannel.email:
        await notifications.send(
            session,
            runtime.settings,
            user_id=user.id,
            channel=Channel.email,
            recipient=user.email,
            purpose="verify_email",
            subject="Your Qpeapay email code",
            body=f"Your Qpeapay email verification code is {code}. "
            f"It expires in {minutes} minutes. If you did not ask for it, ignore this email.",
        )
    else:
        await notifications.send(
            session,
            runtime.settings,
            user_id=user.id,
            channel=Channel.sms,
            recipient=user.phone,
            purpose="verify_phone",
            subject="Qpeapay phone code",
            body=f"Qpeapay code: {code}. Valid {minutes} min. Never share it with anyone.",
        )
    return CodeSent(
        channel=channel,
        sent_to=notifications.mask_recipient(
            Channel.email if channel is VerificationChannel.email else Channel.sms,
            _target(user, channel),
        ),
        expires_in=int(CODE_TTL.total_seconds()),
    )


async def count_wrong_guess(runtime: Runtime, code_id: str) -> None:
    # Its own transaction: the request's is rolled back by the error that follows. (So
    # the caller must not hold a row lock on the code, or this would wait on it forever.)
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(
            update(VerificationCode)
            .where(VerificationCode.id == code_id)
            .values(attempts=VerificationCode.attempts + 1)
        )


async def confirm(
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    channel: VerificationChannel,
    code: str,
    ip: str,
) -> None:
    if _verified(user, channel):
        raise AlreadyVerified(f"Your {channel.value} is already verified.")
    # Its own rule and bucket: guessing an email code must not use up the 2FA tries.
    await ratelimit.limiter(runtime).hit(
        runtime.settings.rate_limit_code_check, "code-check", user.id
    )
    latest = await session.scalar(
        select(VerificationCode)
        .where(
            VerificationCode.user_id == user.id,
            VerificationCode.purpose == VERIFY,
            VerificationCode.channel == channel.value,
        )
        .order_by(VerificationCode.created_at.desc())
        .limit(1)
    )
    now = utcnow()
    if (
        latest is None
        or latest.consumed_at is not None
        or latest.expires_at <= now
        or latest.attempts >= MAX_ATTEMPTS
        or latest.target != _target(user, channel)
    ):
        raise CodeInvalid(param="code")
    expected = sealing.keyed_digest(runtime.settings, _PURPOSE, f"{latest.id}:{code}")
    if not sealing.same(expected, latest.code_hash):
        await count_wrong_guess(runtime, latest.id)
        raise CodeInvalid(param="code")
    latest.consumed_at = now
    if channel is VerificationChannel.email:
        user.email_verified_at = now
    else:
        user.phone_verified_at = now
    await audit.record(
        session,
        f"user.{channel.value}_verified",
        actor_user_id=user.id,
        subject_user_id=user.id,
        ip=ip,
    )
