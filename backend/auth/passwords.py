"""Setting a new password: with a code emailed to the account (reset, for someone who forgot
it), or with the current password while signed in (change).

Invariants: a reset request is answered the same whether or not an account uses the email
(the code is made after the answer has gone, see `send_reset_code`); a reset code is kept
only as a keyed digest in `verification_codes` (purpose "password_reset"), lives as long as
a verification code, works once, dies after the same number of wrong guesses, and only the
newest one counts; a reset ends every session of the account and a change every other one
(access tokens die with their session, refresh tokens with their family); both are audited
and the account's email is told.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth import ratelimit, sealing
from backend.auth.errors import CodeInvalid, PasswordIncorrect, WeakPassword
from backend.auth.models import AuthSession, VerificationCode
from backend.auth.verification import CODE_TTL, MAX_ATTEMPTS, count_wrong_guess
from backend.db import after_commit, utcnow
from backend.notifications import service as notifications
from backend.runtime import Runtime
from backend.users.models import User
from backend.users.passwords import check_policy, hash_password, verify
from contract.ids import new_id
from contract.notifications import Channel
from contract.passwords import PasswordChange, PasswordResetConfirm

RESET = "password_reset"
_DIGEST = "password-reset-code"
_MINUTES = int(CODE_TTL.total_seconds() // 60)


def _digest(runtime: Runtime, code_id: str, code: str) -> str:
    # Over the row id too, so equal codes never share a digest.
    return sealing.keyed_digest(runtime.settings, _DIGEST, f"{code_id}:{code}")


def _check_new_password(password: str, email: str) -> None:
    try:
        check_policy(password, email)
    except WeakPassword as exc:
        raise WeakPassword(exc.message, param="new_password") from exc


async def limit_reset_request(runtime: Runtime, email: str, ip: str) -> None:
    """Count a reset request per client IP and per email: 429 alike for any email."""
    settings, limiter = runtime.settings, ratelimit.limiter(runtime)
    await limiter.hit(settings.rate_limit_reset_code_send_ip, "reset-send-ip", ip)
    await limiter.hit(settings.rate_limit_reset_code_send, "reset-send", email)


async def send_reset_code(session: AsyncSession, runtime: Runtime, email: str, ip: str) -> bool:
    """Email a reset code when an enabled account uses `email`; True when one was sent.

    Run it after the request has been answered: whether an account exists then shows
    neither in the answer nor in how long the answer took."""
    user = await session.scalar(select(User).where(User.email == email))
    if user is None or user.disabled_at is not None:
        return False
    code = f"{secrets.randbelow(10**6):06d}"
    row = VerificationCode(
        id=new_id("otp"),
        user_id=user.id,
        purpose=RESET,
        channel=Channel.email.value,
        target=user.email,
        code_hash="",
        attempts=0,
        expires_at=utcnow() + CODE_TTL,
    )
    row.code_hash = _digest(runtime, row.id, code)
    session.add(row)
    await notifications.send(
        session,
        runtime.settings,
        user_id=user.id,
        channel=Channel.email,
        recipient=user.email,
        purpose=RESET,
        subject="Your Qpeapay password reset code",
        body=f"Your Qpeapay password reset code is {code}. It expires in {_MINUTES} minutes. "
        "If you did not ask to reset your password, ignore this email: your password stays "
        "as it is. Never share this code with anyone.",
    )
    await audit.record(session, "auth.password_reset_requested", subject_user_id=user.id, ip=ip)
    return True


async def _end_sessions(
    session: AsyncSession, user_id: str, reason: str, keep: str | None = None
) -> int:
    """Revoke the user's live sessions (all, or all but `keep`); returns how many ended."""
    now = utcnow()
    query = update(AuthSession).where(
        AuthSession.user_id == user_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > now,
    )
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    ended = await session.scalars(
        query.values(revoked_at=now, revoked_reason=reason).returning(AuthSession.id)
    )
    return len(ended.all())


async def _tell_owner(session: AsyncSession, runtime: Runtime, user: User, how: str) -> None:
    forgot = f"{runtime.settings.public_web_url.rstrip('/')}/login/forgot"
    await notifications.send(
        session,
        runtime.settings,
        user_id=user.id,
        channel=Channel.email,
        recipient=user.email,
        purpose="password_changed",
        subject="Your Qpeapay password was changed",
        body=f"The password of your Qpeapay account was {how}. If this was not you, reset "
        f"your password now at {forgot} and contact support.",
    )


async def reset(
    session: AsyncSession, runtime: Runtime, data: PasswordResetConfirm, ip: str
) -> int:
    """Set a new password with the newest reset code; ends every session. Any wrong,
    used, expired or unknown code (or unknown email) is the same CodeInvalid."""
    settings, limiter = runtime.settings, ratelimit.limiter(runtime)
    await limiter.hit(settings.rate_limit_reset_code_check, "reset-check", data.email)
    _check_new_password(data.new_password, data.email)
    user = await session.scalar(select(User).where(User.email == data.email))
    latest = None
    if user is not None and user.disabled_at is None:
        latest = await session.scalar(
            select(VerificationCode)
            .where(VerificationCode.user_id == user.id, VerificationCode.purpose == RESET)
            .order_by(VerificationCode.created_at.desc())
            .limit(1)
        )
    now = utcnow()
    if (
        user is None
        or latest is None
        or latest.consumed_at is not None
        or latest.expires_at <= now
        or latest.attempts >= MAX_ATTEMPTS
        or latest.target != user.email
    ):
        await _refused(runtime, user, ip, "no_code")
        raise CodeInvalid(param="code")
    if not sealing.same(_digest(runtime, latest.id, data.code), latest.code_hash):
        await count_wrong_guess(runtime, latest.id)
        await _refused(runtime, user, ip, "wrong_code")
        raise CodeInvalid(param="code")
    # Compare-and-set: two requests racing with the same code cannot both pass.
    spent = await session.scalar(
        update(VerificationCode)
        .where(VerificationCode.id == latest.id, VerificationCode.consumed_at.is_(None))
        .values(consumed_at=now)
        .returning(VerificationCode.id)
    )
    if spent is None:
        raise CodeInvalid(param="code")
    user.password_hash = await hash_password(data.new_password)
    ended = await _end_sessions(session, user.id, "password_reset")
    await audit.record(
        session, "auth.password_reset", actor_user_id=user.id, subject_user_id=user.id,
        ip=ip, sessions_ended=ended,
    )  # fmt: skip  # kept compact
    await _tell_owner(session, runtime, user, "reset with a code sent to this email")

    async def _forgive_failed_logins() -> None:
        # Whoever proved the email may sign in at once, even after locking themselves out.
        await ratelimit.forgive_wrong_passwords(runtime, user.email, ip)

    after_commit(session, _forgive_failed_logins)
    return ended


async def _refused(runtime: Runtime, user: User | None, ip: str, reason: str) -> None:
    # Committed on its own: the request fails and rolls back.
    await audit.record_now(
        runtime.sessionmaker, "auth.password_reset_failed", outcome="failure",
        subject_user_id=user.id if user else None, ip=ip, reason=reason,
    )  # fmt: skip  # kept compact


async def change(
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    current_session_id: str | None,
    data: PasswordChange,
    ip: str,
) -> int:
    """Replace the password after checking the current one; ends every other session.

    A wrong current password counts against the same per-account budget of failed
    passwords as sign-in, so a borrowed session cannot be used to guess it."""
    await ratelimit.refuse_password_guessing(runtime, user.email, ip)
    if not await verify(user.password_hash, data.current_password):
        await ratelimit.count_wrong_password(runtime, user.email, ip)
        await audit.record_now(
            runtime.sessionmaker, "auth.password_change_failed", outcome="failure",
            actor_user_id=user.id, subject_user_id=user.id, ip=ip, reason="password",
        )  # fmt: skip  # kept compact
        raise PasswordIncorrect(param="current_password")
    _check_new_password(data.new_password, user.email)
    if data.new_password == data.current_password:
        raise WeakPassword("Choose a password you do not use now.", param="new_password")
    user.password_hash = await hash_password(data.new_password)
    ended = await _end_sessions(session, user.id, "password_changed", keep=current_session_id)
    await audit.record(
        session, "auth.password_changed", actor_user_id=user.id, subject_user_id=user.id,
        ip=ip, sessions_ended=ended,
    )  # fmt: skip  # kept compact
    await _tell_owner(session, runtime, user, "changed in the account settings")
    return ended
