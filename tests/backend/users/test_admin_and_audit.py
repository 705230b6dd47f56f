"""Admin endpoints (search, one user, KYC tier, disable) and the audit log they and every
sign-in write to — which the database refuses to rewrite."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.runtime import Runtime
from contract.users import Role
from tests.identity import Account, make_account


async def test_admins_find_users_by_email_part_or_any_phone_form(
    api: httpx.AsyncClient, runtime: Runtime, admin: Account, customer: Account
) -> None:
    async def search(q: str) -> list[str]:
        response = await api.get("/v1/admin/users", params={"q": q}, headers=admin.headers)
        assert response.status_code == 200, response.text
        return [user["id"] for user in response.json()["data"]]

    assert await search(customer.email.split("@")[0].upper()) == [customer.user_id]
    local_form = "0" + customer.phone.removeprefix("+254")
    assert await search(local_form) == [customer.user_id]
    assert await search(customer.phone) == [customer.user_id]
    assert await search("%") == []  # LIKE wildcards are matched literally
    assert await search("nobody-at-all") == []


async def test_admin_user_list_pages_with_a_cursor(
    api: httpx.AsyncClient, runtime: Runtime, admin: Account
) -> None:
    made = [(await make_account(api, runtime, Role.customer)).user_id for _ in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", "role": "customer", **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/admin/users", params=params, headers=admin.headers)).json()
        seen += [user["id"] for user in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert sorted(seen) == sorted(made)
    bad = await api.get("/v1/admin/users", params={"cursor": "!!"}, headers=admin.headers)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "cursor"


async def test_a_cursor_we_did_not_issue_is_a_documented_400(
    api: httpx.AsyncClient, admin: Account
) -> None:
    spec = (await api.get("/v1/openapi.json")).json()
    for path in ("/v1/admin/users", "/v1/admin/audit"):
        bad = await api.get(path, params={"cursor": "!!"}, headers=admin.headers)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "cursor", path
        assert "400" in spec["paths"][path]["get"]["responses"], path


async def test_kyc_tier_2_needs_verified_contacts_and_is_audited(
    api: httpx.AsyncClient, runtime: Runtime, admin: Account, customer: Account
) -> None:
    url = f"/v1/admin/users/{customer.user_id}/kyc"
    granted = await api.post(
        url, json={"tier": "tier_2", "note": "national ID checked"}, headers=admin.headers
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["kyc"]["tier"] == "tier_2"
    me = (await api.get("/v1/me", headers=customer.headers)).json()
    assert me["kyc"]["tier"] == "tier_2"
    unverified = await make_account(api, runtime, Role.customer, verified=False)
    refused = await api.post(
        f"/v1/admin/users/{unverified.user_id}/kyc",
        json={"tier": "tier_2", "note": "documents look fine"},
        headers=admin.headers,
    )
    assert refused.status_code == 409
    missing = await api.get("/v1/admin/users/usr_doesnotexist", headers=admin.headers)
    assert missing.status_code == 404

    audit = await api.get(
        "/v1/admin/audit",
        params={"user_id": customer.user_id, "action": "admin.kyc_tier_changed"},
        headers=admin.headers,
    )
    [event] = audit.json()["data"]
    assert event["actor_user_id"] == admin.user_id
    assert event["details"] == {
        "before": "tier_1",
        "after": "tier_2",
        "note": "national ID checked",
    }


async def test_admins_cannot_disable_themselves(api: httpx.AsyncClient, admin: Account) -> None:
    response = await api.post(
        f"/v1/admin/users/{admin.user_id}/disable", json={"reason": "oops"}, headers=admin.headers
    )
    assert response.status_code == 409


async def test_audit_log_pages_newest_first(
    api: httpx.AsyncClient, runtime: Runtime, admin: Account
) -> None:
    for _ in range(3):
        await api.post("/v1/auth/login", json={"email": "ghost@example.test", "password": "x" * 12})
    first = (await api.get("/v1/admin/audit", params={"limit": "2"}, headers=admin.headers)).json()
    assert first["has_more"] is True and len(first["data"]) == 2
    rest = await api.get(
        "/v1/admin/audit", params={"limit": "200", "cursor": first["next_cursor"]},
        headers=admin.headers,
    )  # fmt: skip
    ids = [e["id"] for e in first["data"]] + [e["id"] for e in rest.json()["data"]]
    assert len(ids) == len(set(ids))
    actions = [e["action"] for e in first["data"] + rest.json()["data"]]
    assert actions.count("auth.login_failed") == 3
    assert actions[-1] == "auth.login_succeeded"  # the admin's own sign-in came first


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET action = 'nothing'", "DELETE FROM audit_events"]
)
async def test_the_database_refuses_to_change_audit_rows(
    runtime: Runtime, customer: Account, statement: str
) -> None:
    async with runtime.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            await conn.execute(text(statement))
