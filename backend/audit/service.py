"""Write and read the audit log. `record` joins the caller's transaction (the event stands
or falls with the change it describes); `record_now` commits on its own, for failures the
request will roll back (a refused login must still leave a trace)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit.models import AuditEvent
from backend.db import unit_of_work
from contract.ids import new_id


async def record(
    session: AsyncSession,
    action: str,
    *,
    outcome: str = "success",
    actor_user_id: str | None = None,
    actor_api_key_id: str | None = None,
    subject_user_id: str | None = None,
    subject_id: str | None = None,
    ip: str | None = None,
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        id=new_id("aud"),
        action=action,
        outcome=outcome,
        actor_user_id=actor_user_id,
        actor_api_key_id=actor_api_key_id,
        subject_user_id=subject_user_id,
        subject_id=subject_id,
        ip=ip,
        details=details,
    )
    session.add(event)
    await session.flush()
    return event


async def record_now(
    sessionmaker: async_sessionmaker[AsyncSession], action: str, **fields: Any
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await record(session, action, **fields)


async def page(
    session: AsyncSession,
    *,
    limit: int,
    before_seq: int | None = None,
    user_id: str | None = None,
    action: str | None = None,
) -> list[AuditEvent]:
    """Newest first; `user_id` matches the actor or the subject."""
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    if user_id is not None:
        query = query.where(
            (AuditEvent.subject_user_id == user_id) | (AuditEvent.actor_user_id == user_id)
        )
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list((await session.scalars(query)).all())
