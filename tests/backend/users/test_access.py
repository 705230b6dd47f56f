"""The Access rules on probe routes: who gets in, what `call.principal` says, what a key's
scopes allow, and the general per-client limit."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.runtime import Runtime
from backend.settings import Settings
from tests.identity import Account, make_api_key


async def test_merchant_user_and_scoped_key_pass_others_are_refused(
    probe_api: httpx.AsyncClient,
    merchant: Account,
    customer: Account,
    admin: Account,
) -> None:
    as_user = await probe_api.get("/probe/invoices", headers=merchant.headers)
    assert as_user.status_code == 200
    assert as_user.json() == {"user_id": merchant.user_id, "role": "merchant", "api_key_id": None}

    secret = await make_api_key(probe_api, merchant, "invoices:read")
    as_key = await probe_api.get("/probe/invoices", headers={"Authorization": f"Bearer {secret}"})
    assert as_key.status_code == 200
    assert as_key.json()["user_id"] == merchant.user_id
    assert as_key.json()["api_key_id"].startswith("key_")

    unscoped = await make_api_key(probe_api, merchant, "settlements:read")
    refused = await probe_api.get(
        "/probe/invoices", headers={"Authorization": f"Bearer {unscoped}"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    for other in (customer, admin):
        response = await probe_api.get("/probe/invoices", headers=other.headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "role_not_allowed"
    assert (await probe_api.get("/probe/invoices")).status_code == 401


async def test_role_rules_admit_only_their_roles(
    probe_api: httpx.AsyncClient, customer: Account, merchant: Account
) -> None:
    assert (await probe_api.get("/probe/customers", headers=customer.headers)).status_code == 200
    assert (await probe_api.get("/probe/customers", headers=merchant.headers)).status_code == 403


async def test_key_use_is_recorded_at_most_once_a_minute(
    probe_api: httpx.AsyncClient, runtime: Runtime, merchant: Account
) -> None:
    secret = await make_api_key(probe_api, merchant, "invoices:read")
    for _ in range(3):
        ok = await probe_api.get("/probe/invoices", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200
    listed = (await probe_api.get("/v1/api-keys", headers=merchant.headers)).json()["data"]
    assert listed[0]["last_used_at"] is not None
    async with runtime.sessionmaker() as session:
        uses = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "api_key.used"))
        ).all()
    assert len(uses) == 1 and uses[0].actor_api_key_id == listed[0]["id"]


async def test_general_limit_counts_per_client(
    probe_api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    runtime.settings.rate_limit_api = "3/minute"
    try:
        statuses = [
            (await probe_api.get("/probe/customers", headers=customer.headers)).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        # Another client has its own budget.
        assert (await probe_api.get("/probe/invoices", headers=merchant.headers)).status_code == 200
        public = [(await probe_api.get("/probe/public")).status_code for _ in range(4)]
        assert public == [200, 200, 200, 429]
    finally:
        runtime.settings.rate_limit_api = "600/minute"


def test_a_malformed_rate_limit_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="rate_limit_otp"):
        Settings(rate_limit_otp="five per fortnight")
    assert Settings(rate_limit_api="").rate_limit_api == ""  # empty switches the limit off
