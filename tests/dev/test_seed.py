"""Demo data: logins fit to share and to pass a strength check; seeding twice is harmless."""

from __future__ import annotations

import httpx
import pyotp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.dev import seed as demo_data
from backend.runtime import Runtime
from tests.identity import sign_in


def test_demo_logins_cover_each_role_with_strong_distinct_passwords() -> None:
    logins = demo_data.DEMO_LOGINS
    assert set(logins) == {"customer", "merchant", "admin"}
    assert len({login.email for login in logins.values()}) == 3
    assert len({login.password for login in logins.values()}) == 3
    for login in logins.values():
        assert len(login.password) >= 12
        assert any(c.isupper() for c in login.password)
        assert any(c.isdigit() for c in login.password)
        assert login.password.lower() not in {"password1234", "qwertyuiop12", "123456789012"}


async def test_seed_runs_every_step_each_time_and_keeps_what_they_leave(
    runtime: Runtime,
) -> None:
    calls: list[str] = []

    async def _demo_marker(session: AsyncSession, demo: demo_data.Demo) -> None:
        # Shaped like a real step: reads its service, writes idempotently, exports.
        calls.append(demo.services["anvil"]["rpc"])
        await session.execute(text("SELECT 1"))
        demo.export("anvil", usdt="0x" + "11" * 20)
        demo.env["ETHEREUM_USDT_ADDRESS"] = "0x" + "11" * 20

    demo_data.STEPS.append(_demo_marker)
    try:
        services = {"anvil": {"rpc": "http://127.0.0.1:8545", "chain_id": 31337}}
        first = await demo_data.seed(runtime, services=services)
        second = await demo_data.seed(runtime.sessionmaker, services=services)
    finally:
        demo_data.STEPS.remove(_demo_marker)
    assert calls == ["http://127.0.0.1:8545"] * 2
    assert first.exports == second.exports == {"anvil": {"usdt": "0x" + "11" * 20}}
    assert first.env == {"ETHEREUM_USDT_ADDRESS": "0x" + "11" * 20}
    assert first.logins is demo_data.DEMO_LOGINS


async def test_the_registered_demo_steps_succeed_twice(runtime: Runtime) -> None:
    async def rows() -> dict[str, int]:
        async with runtime.engine.connect() as conn:
            counts = await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM key_seeds),"
                    " (SELECT count(*) FROM ledger_transactions)"
                )
            )
            users, seeds, journals = counts.one()
        return {"users": users, "seeds": seeds, "journals": journals}

    await demo_data.seed(runtime)
    first = await rows()
    await demo_data.seed(runtime)
    assert await rows() == first
    assert first["users"] == len(demo_data.DEMO_LOGINS) and first["seeds"] == 1


async def test_the_demo_admin_signs_in_with_its_printed_2fa_secret_and_reaches_admin_tools(
    runtime: Runtime, api: httpx.AsyncClient
) -> None:
    await demo_data.seed(runtime)
    admin = demo_data.DEMO_LOGINS["admin"]
    assert admin.totp_secret is not None and admin.otpauth_uri is not None
    assert admin.totp_secret in admin.otpauth_uri
    tokens = await sign_in(
        api, admin.email, admin.password, otp=pyotp.TOTP(admin.totp_secret).now()
    )
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await api.get("/v1/admin/users", headers=bearer)).status_code == 200
