"""Accounts for tests: a customer, merchants, an admin and API keys, signed in through the
real API. Any test can ask for the `customer`, `merchant`, `other_merchant` or `admin`
fixture, or call `make_account` / `make_api_key` for more."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import httpx
import pyotp
import pytest

from backend.db import unit_of_work, utcnow
from backend.runtime import Runtime
from backend.users.service import create_user
from contract.users import Role

PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)


@dataclass
class Account:
    user_id: str
    email: str
    phone: str
    role: Role
    password: str
    access_token: str
    refresh_token: str
    session_id: str = field(default="")
    # The authenticator app, once two-factor sign-in is on (see `enable_two_factor`).
    totp: pyotp.TOTP | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_phone() -> str:
    return f"+2547{next(_serial) % 10**8:08d}"


async def sign_in(api: httpx.AsyncClient, email: str, password: str, otp: str | None = None
                  ) -> dict[str, str]:  # fmt: skip
    body = {"email": email, "password": password}
    if otp is not None:
        body["otp"] = otp
    response = await api.post("/v1/auth/login", json=body)
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


async def make_account(
    api: httpx.AsyncClient,
    runtime: Runtime,
    role: Role = Role.customer,
    *,
    verified: bool = True,
    business_name: str | None = None,
) -> Account:
    """A user made through the service (no registration rate limit), verified by default,
    then signed in through the API."""
    n = next(_serial)
    email = f"{role.value}{n}@example.test"
    async with unit_of_work(runtime.sessionmaker) as session:
        user = await create_user(
            session,
            email=email,
            password=PASSWORD,
            phone=unique_phone(),
            role=role,
            business_name=business_name or (f"Duka {n}" if role is Role.merchant else None),
        )
        if verified:
            user.email_verified_at = user.phone_verified_at = utcnow()
        user_id, phone = user.id, user.phone
    tokens = await sign_in(api, email, PASSWORD)
    me = await api.get(
        "/v1/me/sessions", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    current = next(s["id"] for s in me.json()["data"] if s["current"])
    return Account(user_id, email, phone, role, PASSWORD, tokens["access_token"],
                   tokens["refresh_token"], current)  # fmt: skip


def next_code(totp: pyotp.TOTP) -> str:
    """A code for the following time step: the current one may already be spent."""
    return totp.at(time.time() + totp.interval)


async def enable_two_factor(api: httpx.AsyncClient, account: Account) -> pyotp.TOTP:
    """Turn TOTP sign-in on through the API, as a person with an authenticator app would."""
    enrolment = await api.post("/v1/me/2fa/enroll", headers=account.headers)
    assert enrolment.status_code == 200, enrolment.text
    totp = pyotp.TOTP(enrolment.json()["secret"])
    confirmed = await api.post(
        "/v1/me/2fa/confirm", json={"code": totp.now()}, headers=account.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    account.totp = totp
    return totp


async def make_api_key(api: httpx.AsyncClient, merchant: Account, *scopes: str) -> str:
    response = await api.post(
        "/v1/api-keys",
        json={"name": "test key", "scopes": list(scopes)},
        headers=merchant.headers,
    )
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


@pytest.fixture
async def customer(api: httpx.AsyncClient, runtime: Runtime) -> Account:
    return await make_account(api, runtime, Role.customer)


@pytest.fixture
async def merchant(api: httpx.AsyncClient, runtime: Runtime) -> Account:
    return await make_account(api, runtime, Role.merchant)


@pytest.fixture
async def other_merchant(api: httpx.AsyncClient, runtime: Runtime) -> Account:
    return await make_account(api, runtime, Role.merchant)


@pytest.fixture
async def admin(api: httpx.AsyncClient, runtime: Runtime) -> Account:
    """An admin with two-factor sign-in on, as every admin tool requires."""
    account = await make_account(api, runtime, Role.admin)
    await enable_two_factor(api, account)
    return account
