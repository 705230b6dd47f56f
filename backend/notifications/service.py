"""Send email and SMS through the outbox: write the message with the change that caused it,
hand it to delivery after commit.

Delivery here is the development transport: the message goes to the log (its text only in
the dev environment, where no real person receives it) and stays readable in the outbox
through the dev-only API and page. A production SMTP/SMS gateway plugs in at `_deliver`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import after_commit
from backend.logs import get_logger
from backend.notifications.models import Notification
from backend.settings import Environment, Settings
from contract.ids import new_id
from contract.notifications import Channel
from contract.users import mask_phone

log = get_logger(__name__)


def mask_recipient(channel: Channel, recipient: str) -> str:
    if channel is Channel.sms:
        return mask_phone(recipient)
    local, _, domain = recipient.partition("@")
    return f"{local[:2]}***@{domain}"


async def send(
    session: AsyncSession,
    settings: Settings,
    *,
    user_id: str | None,
    channel: Channel,
    recipient: str,
    purpose: str,
    subject: str,
    body: str,
) -> Notification:
    message = Notification(
        id=new_id("ntf"),
        user_id=user_id,
        channel=channel.value,
        recipient=recipient,
        purpose=purpose,
        subject=subject,
        body=body,
    )
    session.add(message)
    await session.flush()
    show_text = settings.environment is Environment.dev

    async def _deliver() -> None:
        log.info(
            "notification.sent",
            notification_id=message.id,
            channel=channel.value,
            purpose=purpose,
            to=mask_recipient(channel, recipient),
            # Development only: the text carries one-time codes a real inbox would get.
            text=body if show_text else None,
        )

    after_commit(session, _deliver)
    return message


async def outbox_for(session: AsyncSession, user_id: str, limit: int = 20) -> list[Notification]:
    query = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
