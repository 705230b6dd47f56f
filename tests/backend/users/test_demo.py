"""The demo logins `make run` prints exist, are verified, sign in, and reseeding is a no-op."""

from __future__ import annotations

import httpx
import pyotp
from sqlalchemy import func, select

from backend.db import unit_of_work
from backend.dev.seed import DEMO_LOGINS, Demo
from backend.runtime import Runtime
from backend.users.demo import demo_users
from backend.users.models import User


async def test_demo_logins_are_seeded_once_verified_and_sign_in(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    for _ in range(2):
        async with unit_of_work(runtime.sessionmaker) as session:
            await demo_users(session, Demo(logins=DEMO_LOGINS, services={}))
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 3
    for role, login in DEMO_LOGINS.items():
        credentials = {"email": login.email, "password": login.password}
        if login.totp_secret:  # the admin: admin tools need 2FA, so it signs in with a code
            credentials["otp"] = pyotp.TOTP(login.totp_secret).now()
        tokens = await api.post("/v1/auth/login", json=credentials)
        assert tokens.status_code == 200, tokens.text
        me = await api.get(
            "/v1/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
        )
        assert me.json()["role"] == role
        assert me.json()["kyc"]["tier"] == "tier_1"
        assert me.json()["two_factor_enabled"] is (role == "admin")
        if role == "merchant":
            assert me.json()["business_name"]
