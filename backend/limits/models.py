"""Limit usage (one row per money movement counted against a user's limits) and admins'
per-user overrides of the tier limits.

Invariants: a movement is counted once (reference unique); a released row no longer
counts; usage rows are never deleted, so daily and monthly sums stay explainable.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Numeric, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped
from contract.limits import LimitAction

_ACTIONS = ", ".join(f"'{action}'" for action in LimitAction)


class LimitUsage(Timestamped, Base):
    __tablename__ = "limit_usage"
    __table_args__ = (
        CheckConstraint(f"action IN ({_ACTIONS})", name="action_known"),
        CheckConstraint("amount_kes > 0", name="amount_positive"),
        Index("ix_limit_usage_user_id_action_created_at", "user_id", "action", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    amount_kes: Mapped[Decimal] = mapped_column(Numeric())
    # The business object counted (a buy order id, a withdrawal id): counted at most once.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    # Set when the movement did not happen after all (STK declined, order expired).
    released_at: Mapped[datetime | None]


class LimitOverride(Base):
    __tablename__ = "limit_overrides"
    __table_args__ = (
        CheckConstraint(f"action IN ({_ACTIONS})", name="action_known"),
        CheckConstraint(
            "coalesce(per_transaction, 0) >= 0 AND coalesce(daily, 0) >= 0"
            " AND coalesce(monthly, 0) >= 0 AND coalesce(per_hour, 0) >= 0",
            name="not_negative",
        ),
    )

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    # NULL keeps the tier's value for that limit.
    per_transaction: Mapped[Decimal | None] = mapped_column(Numeric())
    daily: Mapped[Decimal | None] = mapped_column(Numeric())
    monthly: Mapped[Decimal | None] = mapped_column(Numeric())
    per_hour: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
