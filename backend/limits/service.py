"""Transaction limits and velocity: per KYC tier (or an admin's per-user override), per
transaction, per calendar day and month (KES equivalents) and a count per rolling hour.

Invariants: `record` is the only writer of usage and runs under a per-(user, action)
transaction lock, so two concurrent requests cannot both squeeze under a limit; a
movement is counted once per reference; sums are exact (NUMERIC, no sampling).

    check(session, settings, user_id, action, amount)      read-only preview (quotes)
    record(session, settings, user_id, action, amount, reference)   check and count, atomically
    release(session, reference)                             the movement did not happen
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, func, select, text, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from backend.api import Principal
from backend.audit import service as audit
from backend.errors import NotFound, QpeapayError
from backend.limits.config import LimitSet
from backend.limits.models import LimitOverride, LimitUsage
from backend.settings import Settings
from backend.users.models import User
from contract.kyc import KycTier
from contract.limits import (
    LimitAction,
    LimitErrorBody,
    LimitErrorDetail,
    LimitName,
    LimitOverrideRequest,
    LimitStatus,
)
from contract.money import Asset, Money

_PERIOD_WORDS = {
    LimitName.per_transaction: "per-transaction",
    LimitName.daily: "daily",
    LimitName.monthly: "monthly",
    LimitName.hourly_count: "hourly",
}


class LimitExceeded(QpeapayError):
    status, type, code = 403, "invalid_request_error", "limit_exceeded"

    def __init__(
        self,
        action: LimitAction,
        limit: LimitName,
        message: str,
        remaining: Money | None = None,
        remaining_count: int | None = None,
    ) -> None:
        super().__init__(message, param="amount")
        self.action, self.limit = action, limit
        self.remaining, self.remaining_count = remaining, remaining_count

    def body(self, reference: str | None = None) -> LimitErrorBody:
        return LimitErrorBody(
            error=LimitErrorDetail(
                type=self.type,
                code=self.code,
                message=self.message,
                param=self.param,
                reference=reference,
                action=self.action,
                limit=self.limit,
                remaining=self.remaining,
                remaining_count=self.remaining_count,
            )
        )


class UserNotFound(NotFound):
    code, message = "user_not_found", "No such user."


@dataclass(frozen=True)
class Usage:
    today: Decimal
    this_month: Decimal
    last_hour: int


def _kes(amount: Decimal) -> Money:
    return Money(amount=amount.quantize(Decimal("0.01")), asset=Asset.KES)


async def tier_of(session: AsyncSession, user_id: str) -> KycTier:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user.kyc_tier


@dataclass(frozen=True)
class Standing:
    """Where a user stands on one action: tier, the limits that apply, whether an admin's
    override changed any of them, and what has been used."""

    tier: KycTier
    limits: LimitSet
    overridden: bool
    used: Usage


def _standing_query() -> Select[Any]:
    """One statement for the user, their override and their usage (built once: quoting
    runs it on every request). Days and months start at midnight in the limits' zone."""
    zone, now = bindparam("zone", type_=String), func.now()

    def local_start(unit: str) -> ColumnElement[Any]:
        return func.timezone(zone, func.date_trunc(unit, func.timezone(zone, now)))

    day, month, hour_ago = local_start("day"), local_start("month"), now - timedelta(hours=1)
    spent = func.sum(LimitUsage.amount_kes)
    used = (
        select(
            func.coalesce(spent.filter(LimitUsage.created_at >= day), 0).label("today"),
            func.coalesce(spent.filter(LimitUsage.created_at >= month), 0).label("month"),
            func.count().filter(LimitUsage.created_at > hour_ago).label("hour"),
        )
        .where(
            LimitUsage.user_id == User.id,
            LimitUsage.action == bindparam("action"),
            LimitUsage.released_at.is_(None),
            LimitUsage.created_at >= func.least(month, hour_ago),
        )
        .lateral("used")
    )
    return (
        select(User, LimitOverride, used.c.today, used.c.month, used.c.hour)
        .outerjoin(
            LimitOverride,
            and_(LimitOverride.user_id == User.id, LimitOverride.action == bindparam("action")),
        )
        .join(used, true())
        .where(User.id == bindparam("user_id"))
    )


_STANDING = _standing_query()


async def standing(
    session: AsyncSession, settings: Settings, user_id: str, action: LimitAction
) -> Standing:
    row = (
        await session.execute(
            _STANDING,
            {"user_id": user_id, "action": str(action), "zone": settings.limits_timezone},
        )
    ).one_or_none()
    if row is None:
        raise UserNotFound()
    user, override, today, month, hour = row
    tier = user.kyc_tier
    limits = settings.limits[tier][action]
    if override is not None:
        limits = limits.model_copy(
            update={
                name: value
                for name in ("per_transaction", "daily", "monthly", "per_hour")
                if (value := getattr(override, name)) is not None
            }
        )
    used = Usage(today=Decimal(today), this_month=Decimal(month), last_hour=int(hour))
    return Standing(tier, limits, override is not None, used)


def _breach(
    action: LimitAction, limits: LimitSet, used: Usage, amount: Decimal
) -> LimitExceeded | None:
    def over(name: LimitName, cap: Decimal, spent: Decimal, window: str) -> LimitExceeded | None:
        if spent + amount <= cap:
            return None
        left = max(Decimal(0), cap - spent)
        return LimitExceeded(
            action,
            name,
            f"This exceeds your {_PERIOD_WORDS[name]} {action} limit of KES {cap:,.2f}; "
            f"KES {left:,.2f} remains{window}.",
            remaining=_kes(left),
        )

    hourly = None
    if used.last_hour + 1 > limits.per_hour:
        hourly = LimitExceeded(
            action,
            LimitName.hourly_count,
            f"You have made {used.last_hour} {action} transactions in the last hour; the limit "
            f"is {limits.per_hour}. Try again later.",
            remaining_count=max(0, limits.per_hour - used.last_hour),
        )
    return (
        over(LimitName.per_transaction, limits.per_transaction, Decimal(0), "")
        or over(LimitName.daily, limits.daily, used.today, " today")
        or over(LimitName.monthly, limits.monthly, used.this_month, " this month")
        or hourly
    )


async def check(
    session: AsyncSession, settings: Settings, user_id: str, action: LimitAction, amount: Money
) -> None:
    """Raise 403 `limit_exceeded` if moving `amount` (KES) now would break a limit.
    A preview: nothing is counted and nothing is locked."""
    refuse_breach(action, await standing(session, settings, user_id, action), amount)


def refuse_breach(action: LimitAction, now: Standing, amount: Money) -> None:
    """Raise 403 `limit_exceeded` if moving `amount` (KES) on top of `now` breaks a limit."""
    breach = _breach(action, now.limits, now.used, _value(amount))
    if breach is not None:
        raise breach


async def record(
    session: AsyncSession,
    settings: Settings,
    user_id: str,
    action: LimitAction,
    amount: Money,
    reference: str,
) -> None:
    """Count `amount` (KES) against the user's limits, or raise 403 `limit_exceeded`.

    Call it in the transaction that creates the order; the lock it takes is held until that
    commits, so a concurrent request for the same user and action waits and then sees
    this one. Recording the same reference again changes nothing."""
    value = _value(amount)
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"limits:{user_id}:{action}"},
    )
    already = await session.scalar(select(LimitUsage.id).where(LimitUsage.reference == reference))
    if already is not None:
        return
    now = await standing(session, settings, user_id, action)
    breach = _breach(action, now.limits, now.used, value)
    if breach is not None:
        raise breach
    await session.execute(
        insert(LimitUsage).values(
            user_id=user_id, action=str(action), amount_kes=value, reference=reference
        )
    )


async def release(session: AsyncSession, reference: str) -> bool:
    """The counted movement did not happen (declined, expired): stop counting it.
    Returns False when there was nothing (left) to release."""
    released = await session.scalar(
        update(LimitUsage)
        .where(LimitUsage.reference == reference, LimitUsage.released_at.is_(None))
        .values(released_at=func.now())
        .returning(LimitUsage.id)
    )
    return released is not None


def _value(amount: Money) -> Decimal:
    if amount.asset is not Asset.KES:
        raise ValueError(f"limits count KES equivalents, not {amount.asset}")
    if amount.amount <= 0:
        raise ValueError("a counted amount is positive")
    return amount.amount


async def status(
    session: AsyncSession, settings: Settings, user_id: str, action: LimitAction
) -> LimitStatus:
    now = await standing(session, settings, user_id, action)
    limits, used = now.limits, now.used
    return LimitStatus(
        action=action,
        tier=now.tier,
        overridden=now.overridden,
        per_transaction=_kes(limits.per_transaction),
        daily=_kes(limits.daily),
        daily_remaining=_kes(max(Decimal(0), limits.daily - used.today)),
        monthly=_kes(limits.monthly),
        monthly_remaining=_kes(max(Decimal(0), limits.monthly - used.this_month)),
        per_hour=limits.per_hour,
        hourly_remaining=max(0, limits.per_hour - used.last_hour),
    )


async def set_override(
    session: AsyncSession,
    admin: Principal,
    user_id: str,
    action: LimitAction,
    change: LimitOverrideRequest,
    ip: str | None = None,
) -> LimitOverride | None:
    """Replace (or, with every limit left out, remove) a user's override; audited."""
    await tier_of(session, user_id)  # 404 for an unknown user
    before = await session.get(LimitOverride, (user_id, str(action)))
    previous = _snapshot(before)
    limits = {
        "per_transaction": change.per_transaction,
        "daily": change.daily,
        "monthly": change.monthly,
        "per_hour": change.per_hour,
    }
    if all(value is None for value in limits.values()):
        if before is not None:
            await session.delete(before)
        row = None
    else:
        row = await session.scalar(
            insert(LimitOverride)
            .values(
                user_id=user_id,
                action=str(action),
                reason=change.reason,
                set_by=admin.user_id,
                **limits,
            )
            .on_conflict_do_update(
                index_elements=["user_id", "action"],
                set_={
                    **limits,
                    "reason": change.reason,
                    "set_by": admin.user_id,
                    "updated_at": func.now(),
                },
            )
            .returning(LimitOverride),
            execution_options={"populate_existing": True},
        )
    await audit.record(
        session,
        "limits.override_set" if row is not None else "limits.override_removed",
        actor_user_id=admin.user_id,
        actor_api_key_id=admin.api_key_id,
        subject_user_id=user_id,
        subject_id=str(action),
        ip=ip,
        reason=change.reason,
        before=previous,
        after=_snapshot(row),
    )
    return row


def _snapshot(row: LimitOverride | None) -> dict[str, str | int | None] | None:
    if row is None:
        return None
    return {
        "per_transaction": None
        if row.per_transaction is None
        else format(row.per_transaction, "f"),
        "daily": None if row.daily is None else format(row.daily, "f"),
        "monthly": None if row.monthly is None else format(row.monthly, "f"),
        "per_hour": row.per_hour,
    }
