"""The notifications outbox: every email and SMS we send, as written at send time.

Invariant: a row is written in the same transaction as the change that caused it (a
verification code exists only if its message does); delivery happens after commit.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped


class Notification(Timestamped, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms')", name="channel_known"),
        Index("ix_notifications_user_id", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(254))
    # What the message is for ("verify_email", "verify_phone", …), for templates and search.
    purpose: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
