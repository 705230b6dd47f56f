"""The `events` outbox: one row per state change, written in the transaction that made it.

Invariants: `id` is the stream position (the SSE event id). Within one stream (a subject
or an owner) ids grow in commit order, so a reader that has seen id N will never later
find a committed row of that stream with a smaller id (see service.py for how). Rows are
never updated except to renumber them at commit and to set `published_at` once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped

# `noun.verb` with lower-case words, e.g. `invoice.paid`, `settlement.retry_scheduled`.
TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class Event(Timestamped, Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(f"type ~ '{TYPE_PATTERN}'", name="type_is_noun_verb"),
        CheckConstraint("jsonb_typeof(data) = 'object'", name="data_is_object"),
        # What the relay scans: stays small because rows leave it once published.
        Index("ix_events_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        # What SSE replay reads: one stream's rows after a cursor, in order.
        Index("ix_events_subject_id_id", "subject_id", "id"),
        Index(
            "ix_events_owner_id_id",
            "owner_id",
            "id",
            postgresql_where=text("owner_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    # The tenant the event belongs to (a merchant or customer id); NULL for system events.
    owner_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_at: Mapped[datetime | None]
