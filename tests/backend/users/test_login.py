"""Sign-in: tokens, identical refusals for unknown email and wrong password, rehashing,
per-IP and per-account limits, disabled accounts, and the audit trail of attempts."""

from __future__ import annotations

import time
from typing import Any

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select
from starlette.applications import Starlette

from backend.audit.models import AuditEvent
from backend.db import unit_of_work
from backend.runtime import Runtime
from backend.settings import Settings
from backend.users.models import User
from contract.users import Role
from tests.conftest import WithState
from tests.identity import PASSWORD, Account, enable_two_factor, make_account, next_code


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


def from_address(api_app: tuple[Starlette, dict[str, Any]], ip: str) -> httpx.AsyncClient:
    """The same API, called from another address."""
    app, state = api_app
    transport = httpx.ASGITransport(app=WithState(app, state), client=(ip, 9))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


async def _guess(caller: httpx.AsyncClient, email: str, otp: str | None = None) -> int:
    body = {"email": email, "password": "wrong wrong wrong", **({"otp": otp} if otp else {})}
    return (await caller.post("/v1/auth/login", json=body)).status_code


async def test_a_guesser_elsewhere_never_locks_the_owner_out(
    api: httpx.AsyncClient, api_app: tuple[Starlette, dict[str, Any]], customer: Account
) -> None:
    async with from_address(api_app, "198.51.100.7") as guesser:
        assert [await _guess(guesser, customer.email) for _ in range(11)] == [401] * 10 + [429]
        # The guesser's address is done with this account, even with the right password.
        right = {"email": customer.email, "password": PASSWORD}
        limited = await guesser.post("/v1/auth/login", json=right)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 60
    owner = await api.post("/v1/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert owner.status_code == 200, owner.text


async def test_past_the_accounts_ceiling_only_password_and_2fa_code_get_in(
    api: httpx.AsyncClient,
    api_app: tuple[Starlette, dict[str, Any]],
    runtime: Runtime,
    customer: Account,
) -> None:
    guarded = await make_account(api, runtime, Role.customer)
    totp = await enable_two_factor(api, guarded)
    runtime.settings.rate_limit_login_account = "4/hour"
    try:
        for email in (customer.email, guarded.email):
            for address in ("198.51.100.7", "198.51.100.8"):
                async with from_address(api_app, address) as guesser:
                    assert [await _guess(guesser, email) for _ in range(2)] == [401, 401]
        # Without 2FA the password alone no longer opens the account, even for its owner.
        plain = {"email": customer.email, "password": PASSWORD}
        assert (await api.post("/v1/auth/login", json=plain)).status_code == 429
        # With 2FA the code is asked for before the password is even looked at ...
        async with from_address(api_app, "198.51.100.9") as guesser:
            asked = await guesser.post(
                "/v1/auth/login", json={"email": guarded.email, "password": "nope nope nope"}
            )
            assert asked.json()["error"]["code"] == "otp_required"
            assert await _guess(guesser, guarded.email, otp="123456") == 401
        # ... and the owner's password with a valid code still gets in.
        owner = await api.post(
            "/v1/auth/login",
            json={"email": guarded.email, "password": PASSWORD, "otp": next_code(totp)},
        )
        assert owner.status_code == 200, owner.text
    finally:
        runtime.settings.rate_limit_login_account = Settings().rate_limit_login_account


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
