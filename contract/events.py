"""The event envelope integrators receive over SSE (and, later, webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.base import ResponseModel


class EventEnvelope(ResponseModel):
    """One state change. `type` is `noun.verb` (`invoice.paid`); `data` is that type's
    payload; `id` (`evt_…`) is stable across retries, so receivers deduplicate on it."""

    id: str
    type: str
    subject_id: str
    created_at: datetime
    data: dict[str, Any]
