"""The audit log, for admins: newest first, filtered by user or action."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.audit import service
from backend.errors import InvalidRequest
from backend.users.access import admin_only
from contract.audit import AuditEvent, AuditQuery
from contract.pagination import Page


async def admin_audit(call: Call) -> Page[AuditEvent]:
    query: AuditQuery = call.query
    before: int | None = None
    if query.cursor:
        # A sequence number: ASCII digits that fit PostgreSQL's bigint.
        if not (query.cursor.isascii() and query.cursor.isdigit() and len(query.cursor) <= 18):
            raise InvalidRequest("The cursor is not valid.", param="cursor")
        before = int(query.cursor)
    rows = await service.page(
        call.session,
        limit=query.limit + 1,
        before_seq=before,
        user_id=query.user_id,
        action=query.action,
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return Page[AuditEvent](
        data=[
            AuditEvent(
                id=row.id,
                occurred_at=row.occurred_at,
                action=row.action,
                outcome=row.outcome,
                actor_user_id=row.actor_user_id,
                actor_api_key_id=row.actor_api_key_id,
                subject_user_id=row.subject_user_id,
                subject_id=row.subject_id,
                ip=row.ip,
                details=row.details,
            )
            for row in rows
        ],
        has_more=more,
        next_cursor=str(rows[-1].seq) if more and rows else None,
    )


ENDPOINTS = [
    Endpoint("GET", "/v1/admin/audit", admin_audit, admin_only, "The audit log",
             query=AuditQuery, response=Page[AuditEvent], errors=(400,), tags=("admin",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
