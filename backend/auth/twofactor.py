"""TOTP two-factor authentication: enrol, confirm, check at sign-in, recovery codes, disable.

Invariants: the TOTP secret is sealed at rest; a code's time step is accepted once
(replays inside the ±30 s window fail); recovery codes are stored as keyed digests and
each works once; turning 2FA off needs the password and a current code.
"""

from __future__ import annotations

import secrets
import time

import pyotp
import segno
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth import ratelimit, sealing
from backend.auth.errors import CodeInvalid, CodeReused, PasswordIncorrect, TwoFactorState
from backend.auth.models import RecoveryCode
from backend.db import utcnow
from backend.errors import InvariantBroken
from backend.runtime import Runtime
from backend.settings import Settings
from backend.users import passwords
from backend.users.models import User
from contract.auth import TwoFactorEnrollment, TwoFactorStatus

ISSUER = "Qpeapay"
RECOVERY_CODES = 10
_SEALING_PURPOSE = "totp-secret"
_RECOVERY = "recovery-code"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def _totp(runtime: Runtime, user: User) -> pyotp.TOTP:
    if user.totp_secret_sealed is None:
        raise InvariantBroken("Two-factor checks run only for users with a TOTP secret.")
    return pyotp.TOTP(sealing.unseal(runtime.settings, _SEALING_PURPOSE, user.totp_secret_sealed))


def _matching_step(totp: pyotp.TOTP, code: str, after: int | None) -> int | None:
    """The time step (now ±1) whose code is `code` and which was not used before; a code
    of a step already used is CodeReused, so the person is told to wait, not to retype."""
    now_step = int(time.time()) // totp.interval
    matching = [
        step
        for step in (now_step - 1, now_step, now_step + 1)
        if sealing.same(totp.at(step * totp.interval), code)
    ]
    fresh = [step for step in matching if after is None or step > after]
    if fresh:
        return fresh[0]
    if matching:
        raise CodeReused(param="code")
    return None


def _normalise_recovery(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


async def status(session: AsyncSession, user: User) -> TwoFactorStatus:
    left = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return TwoFactorStatus(
        enabled=user.two_factor_enabled,
        pending=user.totp_secret_sealed is not None and not user.two_factor_enabled,
        recovery_codes_left=left or 0,
    )


def _enrollment(user: User, secret: str) -> TwoFactorEnrollment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    qr = segno.make(uri, error="m").svg_inline(
        scale=4, dark="#0f172a", title="2FA QR code", omitsize=True
    )
    return TwoFactorEnrollment(secret=secret, otpauth_uri=uri, qr_svg=qr)


async def enroll(runtime: Runtime, user: User) -> TwoFactorEnrollment:
    """Start (or restart) enrolment with a fresh secret; 2FA is on only after `confirm`."""
    if user.two_factor_enabled:
        raise TwoFactorState("Two-factor authentication is already on.")
    secret = pyotp.random_base32()
    user.totp_secret_sealed = sealing.seal(runtime.settings, _SEALING_PURPOSE, secret)
    user.totp_last_step = None
    return _enrollment(user, secret)


def turn_on_with_secret(settings: Settings, user: User, secret: str) -> None:
    """Turn TOTP on with a secret known in advance: the demo admin's, which `make run`
    prints beside its password. Real people enrol with `enroll` and `confirm`."""
    user.totp_secret_sealed = sealing.seal(settings, _SEALING_PURPOSE, secret)
    user.totp_enabled_at = utcnow()
    user.totp_last_step = None


def pending_enrollment(runtime: Runtime, user: User) -> TwoFactorEnrollment:
    """The enrolment waiting for its first code, shown again (e.g. after a mistyped code)."""
    if user.two_factor_enabled or user.totp_secret_sealed is None:
        raise TwoFactorState("No enrolment is waiting for a code.")
    return _enrollment(user, _totp(runtime, user).secret)


async def _new_recovery_codes(session: AsyncSession, runtime: Runtime, user: User) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        digest = sealing.keyed_digest(runtime.settings, _RECOVERY, f"{user.id}:{raw}")
        session.add(RecoveryCode(user_id=user.id, code_hash=digest))
    await session.flush()
    return codes


async def confirm(
    session: AsyncSession, runtime: Runtime, user: User, code: str, ip: str
) -> list[str]:
    if user.two_factor_enabled or user.totp_secret_sealed is None:
        raise TwoFactorState("Start enrolment first.")
    await ratelimit.limiter(runtime).hit(runtime.settings.rate_limit_otp, "totp", user.id)
    step = _matching_step(_totp(runtime, user), code.strip(), None)
    if step is None:
        raise CodeInvalid(param="code")
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    codes = await _new_recovery_codes(session, runtime, user)
    await audit.record(
        session, "2fa.enabled", actor_user_id=user.id, subject_user_id=user.id, ip=ip
    )
    return codes


async def check(session: AsyncSession, runtime: Runtime, user: User, code: str, ip: str) -> None:
    """Accept a current TOTP code or an unused recovery code; a code already used is
    CodeReused, anything else CodeInvalid."""
    await ratelimit.limiter(runtime).hit(runtime.settings.rate_limit_otp, "totp", user.id)
    code = code.strip()
    if code.isdigit() and len(code) == 6:
        step = _matching_step(_totp(runtime, user), code, user.totp_last_step)
        if step is None:
            raise CodeInvalid(param="code")
        # Compare-and-set: two requests racing with the same code cannot both pass.
        moved = await session.scalar(
            update(User)
            .where(
                User.id == user.id,
                (User.totp_last_step.is_(None)) | (User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .returning(User.id)
        )
        if moved is None:  # a request racing with the same code got there first
            raise CodeReused(param="code")
        return
    digest = sealing.keyed_digest(
        runtime.settings, _RECOVERY, f"{user.id}:{_normalise_recovery(code)}"
    )
    used = await session.scalar(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == digest,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .returning(RecoveryCode.id)
    )
    if used is None:
        raise CodeInvalid(param="code")
    await audit.record(
        session, "2fa.recovery_code_used", actor_user_id=user.id, subject_user_id=user.id, ip=ip
    )


async def regenerate_recovery_codes(
    session: AsyncSession, runtime: Runtime, user: User, code: str, ip: str
) -> list[str]:
    if not user.two_factor_enabled:
        raise TwoFactorState("Two-factor authentication is off.")
    await check(session, runtime, user, code, ip)
    codes = await _new_recovery_codes(session, runtime, user)
    await audit.record(
        session, "2fa.recovery_codes_renewed", actor_user_id=user.id, subject_user_id=user.id,
        ip=ip,
    )  # fmt: skip  # the arguments kept on two lines, not one per line
    return codes


async def disable(
    session: AsyncSession, runtime: Runtime, user: User, password: str, code: str, ip: str
) -> None:
    if not user.two_factor_enabled:
        raise TwoFactorState("Two-factor authentication is off.")
    if not await passwords.verify(user.password_hash, password):
        raise PasswordIncorrect(param="password")
    await check(session, runtime, user, code, ip)
    user.totp_secret_sealed = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await audit.record(
        session, "2fa.disabled", actor_user_id=user.id, subject_user_id=user.id, ip=ip
    )
