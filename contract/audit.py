"""The audit log as admins read it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from contract.base import RequestModel, ResponseModel


class AuditEvent(ResponseModel):
    id: str
    occurred_at: datetime
    action: str
    outcome: str
    actor_user_id: str | None = None
    actor_api_key_id: str | None = None
    subject_user_id: str | None = None
    subject_id: str | None = None
    ip: str | None = None
    details: dict[str, Any]


class AuditQuery(RequestModel):
    user_id: str | None = Field(default=None, max_length=32, description="As actor or subject")
    action: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=40)
