"""Merchant API keys: the secret once, stored hashed behind a visible prefix, scopes,
last-used time, revocation, and the audit trail of create / use / revoke."""

from __future__ import annotations

import hashlib

import httpx
from sqlalchemy import select

from backend.apikeys.models import ApiKey
from backend.audit.models import AuditEvent
from backend.runtime import Runtime
from tests.identity import Account, make_api_key


async def test_the_secret_is_shown_once_and_stored_only_as_a_hash(
    api: httpx.AsyncClient, runtime: Runtime, merchant: Account
) -> None:
    created = await api.post(
        "/v1/api-keys",
        json={"name": "Shopify store", "scopes": ["invoices:write", "invoices:read"]},
        headers=merchant.headers,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    key = created.json()["api_key"]
    assert secret.startswith("qp_test_") and len(secret) > 40
    assert secret.startswith(key["prefix"]) and len(key["prefix"]) == 12
    assert key["scopes"] == ["invoices:read", "invoices:write"]
    listed = await api.get("/v1/api-keys", headers=merchant.headers)
    assert secret not in listed.text
    assert [k["id"] for k in listed.json()["data"]] == [key["id"]]
    async with runtime.sessionmaker() as session:
        row = await session.get(ApiKey, key["id"])
    assert row is not None and row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()


async def test_a_revoked_key_stops_authenticating(
    api: httpx.AsyncClient, runtime: Runtime, merchant: Account
) -> None:
    secret = await make_api_key(api, merchant, "invoices:read")
    key_headers = {"Authorization": f"Bearer {secret}"}
    # Keys are for integrator endpoints; account endpoints want a person.
    me = await api.get("/v1/me", headers=key_headers)
    assert me.status_code == 403 and me.json()["error"]["code"] == "api_key_not_accepted"
    listed = (await api.get("/v1/api-keys", headers=merchant.headers)).json()["data"][0]

    revoked = await api.delete(f"/v1/api-keys/{listed['id']}", headers=merchant.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    after = await api.get("/v1/me", headers=key_headers)
    assert after.status_code == 401
    async with runtime.sessionmaker() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_id == listed["id"])
                .order_by(AuditEvent.seq)
            )
        ).all()
    assert list(actions) == ["api_key.created", "api_key.revoked"]


async def test_unknown_or_wrong_mode_keys_are_401(api: httpx.AsyncClient) -> None:
    for secret in ("qp_test_doesnotexist", "qp_live_doesnotexist"):
        response = await api.get("/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 401


async def test_only_merchants_manage_keys_and_only_their_own(
    api: httpx.AsyncClient, merchant: Account, other_merchant: Account, customer: Account
) -> None:
    created = await api.post(
        "/v1/api-keys", json={"name": "POS", "scopes": ["invoices:read"]}, headers=merchant.headers
    )
    key_id = created.json()["api_key"]["id"]
    as_customer = await api.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["invoices:read"]}, headers=customer.headers
    )
    assert as_customer.status_code == 403
    theirs = await api.delete(f"/v1/api-keys/{key_id}", headers=other_merchant.headers)
    assert theirs.status_code == 404
    assert (await api.get("/v1/api-keys", headers=other_merchant.headers)).json()["data"] == []


async def test_unknown_scopes_and_empty_scope_lists_are_refused(
    api: httpx.AsyncClient, merchant: Account
) -> None:
    for scopes in ([], ["payouts:write"], ["invoices:read", "admin"]):
        response = await api.post(
            "/v1/api-keys", json={"name": "x", "scopes": scopes}, headers=merchant.headers
        )
        assert response.status_code == 422
        assert response.json()["error"]["param"].startswith("scopes")
