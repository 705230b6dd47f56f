"""Accounts: registration, the user as the API shows it, and what admins do to accounts.

Invariants: an email belongs to one account (checked, and enforced by a unique index for
races); registering answers alike whether or not the email has an account; admin changes
are audited in the same transaction as the change; disabling ends every session.
"""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth import ratelimit, verification
from backend.auth.errors import AlreadyVerified, EmailTaken
from backend.auth.models import AuthSession
from backend.db import utcnow
from backend.errors import Conflict, InvalidRequest, NotFound
from backend.notifications import service as notifications
from backend.runtime import Runtime
from backend.users import passwords
from backend.users.models import User
from contract import users as wire
from contract.auth import VerificationChannel
from contract.ids import looks_like_id, new_id
from contract.kyc import KycTier
from contract.notifications import Channel
from contract.pagination import Page


def to_wire(user: User) -> wire.User:
    return wire.User(
        id=user.id,
        email=user.email,
        phone=user.phone,
        role=wire.Role(user.role),
        business_name=user.business_name,
        kyc=wire.Kyc(
            email_verified=user.email_verified_at is not None,
            phone_verified=user.phone_verified_at is not None,
            tier=user.kyc_tier,
        ),
        two_factor_enabled=user.two_factor_enabled,
        disabled=user.disabled_at is not None,
        created_at=user.created_at,
    )


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    phone: str,
    role: wire.Role,
    business_name: str | None = None,
) -> User:
    """Insert an account after the password policy; a taken email is EmailTaken (409)."""
    passwords.check_policy(password, email)
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken(param="email")
    user = User(
        id=new_id("usr"),
        email=email,
        password_hash=await passwords.hash_password(password),
        phone=phone,
        role=role.value,
        business_name=business_name,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise EmailTaken(param="email") from exc
    await session.refresh(user)
    return user


async def _notify_owner(session: AsyncSession, runtime: Runtime, owner: User) -> None:
    await notifications.send(
        session,
        runtime.settings,
        user_id=owner.id,
        channel=Channel.email,
        recipient=owner.email,
        purpose="registration_existing",
        subject="Someone tried to sign up with your email",
        body="Someone tried to create a Qpeapay account with this email address, which "
        "already has one. If it was you, sign in instead (or reset your password). If not, "
        "you can ignore this email: nothing changed on your account.",
    )


async def register(
    session: AsyncSession,
    runtime: Runtime,
    data: wire.RegisterRequest,
    ip: str,
    *,
    device: str | None = None,
) -> wire.RegistrationAccepted:
    """Create the account and send its codes; for an email that already has an account,
    tell its owner instead. Both answer alike, after the same password-hashing work."""
    settings = runtime.settings
    limiter = ratelimit.limiter(runtime)
    await limiter.hit(settings.rate_limit_register_ip, "register-ip", ip)
    # A device the web app vouched for, else the address (a direct caller has no other).
    await limiter.hit(settings.rate_limit_register_device, "register-device", device or f"ip:{ip}")
    await limiter.hit(settings.rate_limit_register_account, "register-account", data.email)
    accepted = wire.RegistrationAccepted(
        email=data.email,
        message="Check your email for the next step. If you have an account, sign in instead.",
    )
    passwords.check_policy(data.password, data.email)
    owner = await session.scalar(select(User).where(User.email == data.email))
    if owner is None:
        try:
            user = await create_user(
                session,
                email=data.email,
                password=data.password,
                phone=data.phone,
                role=wire.Role(data.account_type.value),
                business_name=data.business_name,
            )
        except EmailTaken:  # a concurrent registration won the race
            owner = await session.scalar(select(User).where(User.email == data.email))
        else:
            for channel in VerificationChannel:
                await verification.send_code(
                    session, runtime, user, channel, count_against_limit=False
                )
            await audit.record(
                session, "user.registered", actor_user_id=user.id, subject_user_id=user.id,
                ip=ip, role=user.role,
            )  # fmt: skip  # kept compact
            return accepted
    else:
        await passwords.hash_password(data.password)  # the work a new account costs
    if owner is not None:
        await _notify_owner(session, runtime, owner)
        await audit.record(session, "user.registration_existing", subject_user_id=owner.id, ip=ip)
    return accepted


async def get(session: AsyncSession, user_id: str, *, for_update: bool = False) -> User:
    query = select(User).where(User.id == user_id)
    if for_update:
        query = query.with_for_update()
    user = await session.scalar(query)
    if user is None:
        raise NotFound("No such user.")
    return user


def _encode_cursor(user: User) -> str:
    return base64.urlsafe_b64encode(f"{user.created_at.isoformat()}|{user.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, _, user_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        moment = datetime.fromisoformat(created)
        # In UTC now: a zone offset at the ends of the calendar cannot be converted later.
        moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    except (ValueError, OverflowError) as exc:
        raise InvalidRequest("The cursor is not valid.", param="cursor") from exc
    if moment.tzinfo is None or not looks_like_id(user_id):
        raise InvalidRequest("The cursor is not valid.", param="cursor")
    return moment, user_id


async def search(session: AsyncSession, query: wire.AdminUserQuery) -> Page[wire.User]:
    """Newest first. `q` matches part of an email, or a phone number in any accepted form."""
    stmt = select(User).order_by(User.created_at.desc(), User.id.desc()).limit(query.limit + 1)
    if query.q:
        term = query.q.strip().lower()
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = [User.email.like(f"%{escaped}%", escape="\\"), User.id == term]
        with contextlib.suppress(ValueError):
            matches.append(User.phone == wire.normalise_kenyan_mobile(term))
        stmt = stmt.where(or_(*matches))
    if query.role is not None:
        stmt = stmt.where(User.role == query.role.value)
    if query.cursor:
        created, last_id = _decode_cursor(query.cursor)
        stmt = stmt.where(
            or_(User.created_at < created, and_(User.created_at == created, User.id < last_id))
        )
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return Page[wire.User](
        data=[to_wire(user) for user in rows],
        has_more=more,
        next_cursor=_encode_cursor(rows[-1]) if more and rows else None,
    )


async def set_kyc_tier(
    session: AsyncSession, admin_id: str, user_id: str, change: wire.KycChange, ip: str
) -> User:
    """Tier 2 records an identity check; tiers 0 and 1 follow from email and phone, so an
    admin may only grant or withdraw the identity check."""
    user = await get(session, user_id, for_update=True)
    before = user.kyc_tier
    if change.tier is KycTier.tier_2:
        if user.email_verified_at is None or user.phone_verified_at is None:
            raise Conflict(
                "Email and phone must be verified before an identity check.", param="tier"
            )
        if user.identity_verified_at is not None:
            raise AlreadyVerified("This user is already at tier 2.")
        user.identity_verified_at = utcnow()
    else:
        user.identity_verified_at = None
    await audit.record(
        session,
        "admin.kyc_tier_changed",
        actor_user_id=admin_id,
        subject_user_id=user.id,
        ip=ip,
        before=before.value,
        after=user.kyc_tier.value,
        note=change.note,
    )
    return user


async def set_disabled(
    session: AsyncSession, admin_id: str, user_id: str, reason: str | None, ip: str
) -> User:
    """Disable (reason given) or re-enable (None) an account. Disabling takes effect at once
    (every request re-checks the account) and ends every session, so tokens issued before
    it stay dead after the account is enabled again."""
    if user_id == admin_id:
        raise Conflict("Admins cannot disable their own account.")
    user = await get(session, user_id, for_update=True)
    user.disabled_at = utcnow() if reason else None
    user.disabled_reason = reason
    if reason:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=user.disabled_at, revoked_reason="account_disabled")
        )
    await audit.record(
        session,
        "admin.user_disabled" if reason else "admin.user_enabled",
        actor_user_id=admin_id,
        subject_user_id=user.id,
        ip=ip,
        reason=reason,
    )
    return user
