"""Sign-in: tokens, identical refusals for unknown email and wrong password, rehashing,
per-IP and per-account limits, disabled accounts, and the audit trail of attempts."""

from __future__ import annotations

import time

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.db import unit_of_work
from backend.runtime import Runtime
from backend.users.models import User
from contract.users import Role
from tests.identity import PASSWORD, Account, make_account


async def _actions(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
        return [(row.action, row.outcome) for row in rows]


async def test_login_returns_a_bearer_pair_that_opens_me(
    api: httpx.AsyncClient, customer: Account
) -> None:
    response = await api.post(
        "/v1/auth/login", json={"email": customer.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["token_type"] == "Bearer"
    assert 60 <= pair["expires_in"] <= 900
    assert pair["refresh_token"].startswith("rt_")
    me = await api.get("/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert me.json()["kyc"] == {"email_verified": True, "phone_verified": True, "tier": "tier_1"}


async def test_unknown_email_and_wrong_password_get_the_same_answer_in_similar_time(
    api: httpx.AsyncClient, customer: Account, runtime: Runtime
) -> None:
    async def attempt(email: str) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = await api.post(
            "/v1/auth/login", json={"email": email, "password": "not the password at all"}
        )
        return response, time.perf_counter() - started

    wrong, wrong_s = await attempt(customer.email)
    unknown, unknown_s = await attempt("nobody@example.test")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    # Both ran one full argon2 verification: neither is a fast path.
    assert unknown_s > 0.3 * wrong_s and wrong_s > 0.3 * unknown_s
    assert ("auth.login_failed", "failure") in await _actions(runtime)


async def test_login_rehashes_a_password_stored_with_old_parameters(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    async with unit_of_work(runtime.sessionmaker) as session:
        user = await session.get(User, customer.user_id)
        assert user is not None
        user.password_hash = weak.hash(PASSWORD)
    response = await api.post(
        "/v1/auth/login", json={"email": customer.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    async with runtime.sessionmaker() as session:
        user = await session.get(User, customer.user_id)
        assert user is not None
        assert not PasswordHasher().check_needs_rehash(user.password_hash)
        assert "m=65536" in user.password_hash


async def test_failed_logins_lock_the_account_but_not_the_right_password_elsewhere_first(
    api: httpx.AsyncClient, customer: Account
) -> None:
    # The right password still works while failures are under the account limit.
    for _ in range(9):
        response = await api.post(
            "/v1/auth/login", json={"email": customer.email, "password": "wrong wrong wrong"}
        )
        assert response.status_code == 401
    ok = await api.post("/v1/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert ok.status_code == 200
    await api.post("/v1/auth/login", json={"email": customer.email, "password": "wrong again!"})
    locked = await api.post("/v1/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 60


async def test_login_is_limited_per_ip(api: httpx.AsyncClient) -> None:
    statuses = []
    for n in range(21):
        response = await api.post(
            "/v1/auth/login", json={"email": f"guess{n}@example.test", "password": "whatever"}
        )
        statuses.append(response.status_code)
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429
    assert 0 < int(response.headers["retry-after"]) <= 60


async def test_disabled_account_cannot_sign_in_and_is_signed_out_at_once(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, admin: Account
) -> None:
    disabled = await api.post(
        f"/v1/admin/users/{customer.user_id}/disable",
        json={"reason": "chargeback fraud"},
        headers=admin.headers,
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled"] is True
    me = await api.get("/v1/me", headers=customer.headers)
    assert me.status_code == 401 and me.json()["error"]["code"] == "invalid_token"
    login = await api.post("/v1/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert login.status_code == 403 and login.json()["error"]["code"] == "account_disabled"
    enabled = await api.post(
        f"/v1/admin/users/{customer.user_id}/enable",
        json={"note": "cleared after review"},
        headers=admin.headers,
    )
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    # Disabling ended every session: neither token issued before it works again.
    old_access = await api.get("/v1/me", headers=customer.headers)
    assert old_access.status_code == 401
    assert old_access.json()["error"]["code"] == "invalid_token"
    old_refresh = await api.post("/v1/auth/refresh", json={"refresh_token": customer.refresh_token})
    assert old_refresh.status_code == 401
    assert old_refresh.json()["error"]["code"] == "invalid_refresh_token"
    fresh = await api.post("/v1/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert fresh.status_code == 200
    actions = [a for a, _ in await _actions(runtime)]
    assert "admin.user_disabled" in actions and "admin.user_enabled" in actions


async def test_successful_login_is_audited(api: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_account(api, runtime, Role.merchant)
    assert ("auth.login_succeeded", "success") in await _actions(runtime)
