"""The append-only audit log: who did what to whom, from where, and whether it worked.

Invariant: rows are only ever inserted. A database trigger (migration 0004) refuses
UPDATE and DELETE, so not even a bug or a compromised service account can rewrite history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject_user_id", "subject_user_id", "seq"),
        Index("ix_audit_events_actor_user_id", "actor_user_id", "seq"),
        Index("ix_audit_events_action", "action", "seq"),
    )

    # Insertion order, for cursor pagination; `id` is the public identifier.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    # No foreign keys: the trail must outlive and never block changes to what it describes.
    actor_user_id: Mapped[str | None] = mapped_column(String(32))
    actor_api_key_id: Mapped[str | None] = mapped_column(String(32))
    subject_user_id: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
