"""The notifications outbox as the dev tools show it: what we sent, to whom, and why."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from contract.base import ResponseModel


class Channel(StrEnum):
    email = "email"
    sms = "sms"


class OutboxMessage(ResponseModel):
    id: str
    channel: Channel
    recipient: str
    purpose: str
    subject: str
    body: str
    created_at: datetime


class OutboxList(ResponseModel):
    data: list[OutboxMessage]
