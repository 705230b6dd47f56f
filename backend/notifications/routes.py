"""Development only: the messages we "sent" the signed-in user, so codes can be read
without a real inbox or phone. Answers 404 unless DEV_OUTBOX_ENABLED is on in dev or test."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.errors import NotFound
from backend.notifications import service
from backend.users.access import signed_in
from contract.notifications import Channel, OutboxList, OutboxMessage


async def dev_outbox(call: Call) -> OutboxList:
    if not call.runtime.settings.dev_outbox:
        raise NotFound()
    rows = await service.outbox_for(call.session, call.user().user_id)
    return OutboxList(
        data=[
            OutboxMessage(
                id=row.id,
                channel=Channel(row.channel),
                recipient=row.recipient,
                purpose=row.purpose,
                subject=row.subject,
                body=row.body,
                created_at=row.created_at,
            )
            for row in rows
        ]
    )


ENDPOINTS = [
    Endpoint("GET", "/v1/dev/outbox", dev_outbox, signed_in(),
             "Development: messages sent to you (404 unless enabled in dev)", response=OutboxList,
             errors=(404,), tags=("dev",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
