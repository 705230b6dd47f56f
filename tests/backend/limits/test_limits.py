"""Limits: per tier and per action, exact daily/monthly sums in Nairobi's calendar, an hourly
count, counted once per reference and released when a movement falls through; concurrent
requests cannot both squeeze under a limit; admins override per user, and it is audited."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.db import unit_of_work
from backend.limits import service as limits
from backend.limits.models import LimitUsage
from backend.runtime import Runtime
from contract.limits import LimitAction, LimitName, LimitStatus
from contract.money import Asset, Money
from tests.identity import Account, make_account


def kes(amount: int | str) -> Money:
    return Money.of(amount, Asset.KES)


async def record(runtime: Runtime, user_id: str, amount: int, reference: str,
                 action: LimitAction = LimitAction.buy) -> None:  # fmt: skip
    async with unit_of_work(runtime.sessionmaker) as session:
        await limits.record(session, runtime.settings, user_id, action, kes(amount), reference)


async def status(
    runtime: Runtime, user_id: str, action: LimitAction = LimitAction.buy
) -> LimitStatus:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await limits.status(session, runtime.settings, user_id, action)


async def test_usage_adds_up_until_the_daily_limit(runtime: Runtime, customer: Account) -> None:
    await record(runtime, customer.user_id, 70_000, "buy_a")
    await record(runtime, customer.user_id, 70_000, "buy_b")
    with pytest.raises(limits.LimitExceeded) as caught:
        await record(runtime, customer.user_id, 10_001, "buy_c")
    error = caught.value
    assert (error.status, error.code, error.limit) == (403, "limit_exceeded", LimitName.daily)
    assert error.remaining == kes(10_000)
    assert "daily buy limit of KES 150,000.00; KES 10,000.00 remains today" in error.message
    await record(runtime, customer.user_id, 10_000, "buy_d")  # exactly up to the limit
    left = await status(runtime, customer.user_id)
    assert (left.daily_remaining, left.monthly_remaining) == (kes(0), kes(850_000))
    # Other actions have limits of their own.
    await record(runtime, customer.user_id, 5_000, "sell_a", LimitAction.sell)


async def test_per_transaction_and_hourly_count(runtime: Runtime, customer: Account) -> None:
    with pytest.raises(limits.LimitExceeded) as caught:
        await record(runtime, customer.user_id, 70_001, "big")
    assert caught.value.limit is LimitName.per_transaction
    for n in range(10):
        await record(runtime, customer.user_id, 100, f"small_{n}")
    with pytest.raises(limits.LimitExceeded) as caught:
        await record(runtime, customer.user_id, 100, "small_10")
    assert (caught.value.limit, caught.value.remaining_count) == (LimitName.hourly_count, 0)


async def test_a_reference_counts_once_and_a_release_gives_it_back(
    runtime: Runtime, customer: Account
) -> None:
    await record(runtime, customer.user_id, 70_000, "buy_1")
    await record(runtime, customer.user_id, 60_000, "buy_2")
    await record(runtime, customer.user_id, 60_000, "buy_2")  # a retried job
    assert (await status(runtime, customer.user_id)).daily_remaining == kes(20_000)
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await limits.release(session, "buy_2") is True
        assert await limits.release(session, "buy_2") is False
    assert (await status(runtime, customer.user_id)).daily_remaining == kes(80_000)


async def test_concurrent_requests_cannot_both_squeeze_under(
    runtime: Runtime, customer: Account
) -> None:
    await record(runtime, customer.user_id, 50_000, "earlier")
    outcomes = await asyncio.gather(
        *(record(runtime, customer.user_id, 60_000, f"race_{n}") for n in range(4)),
        return_exceptions=True,
    )
    assert sum(outcome is None for outcome in outcomes) == 1
    assert all(isinstance(o, limits.LimitExceeded) for o in outcomes if o is not None)
    assert (await status(runtime, customer.user_id)).daily_remaining == kes(40_000)


async def test_days_and_months_are_nairobis(runtime: Runtime, customer: Account) -> None:
    nairobi = ZoneInfo(runtime.settings.limits_timezone)
    midnight = datetime.now(nairobi).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday_late = midnight - timedelta(minutes=1)
    async with unit_of_work(runtime.sessionmaker) as session:
        session.add(LimitUsage(user_id=customer.user_id, action="buy",
                               amount_kes=Decimal(30_000), reference="late",
                               created_at=yesterday_late))  # fmt: skip
    left = await status(runtime, customer.user_id)
    assert left.daily_remaining == kes(150_000)
    same_month = yesterday_late.month == midnight.month
    assert left.monthly_remaining == kes(970_000 if same_month else 1_000_000)
    within_the_hour = datetime.now(nairobi) - yesterday_late <= timedelta(hours=1)
    assert left.hourly_remaining == (9 if within_the_hour else 10)


async def test_tier_zero_moves_nothing(api: httpx.AsyncClient, runtime: Runtime) -> None:
    newcomer = await make_account(api, runtime, verified=False)
    with pytest.raises(limits.LimitExceeded) as caught:
        await record(runtime, newcomer.user_id, 1, "first")
    assert caught.value.remaining == kes(0)


async def test_me_limits_lists_every_action(api: httpx.AsyncClient, customer: Account) -> None:
    response = await api.get("/v1/me/limits", headers=customer.headers)
    assert response.status_code == 200
    body = response.json()
    assert [entry["action"] for entry in body["data"]] == ["buy", "sell", "withdraw", "settle"]
    assert body["data"][0]["tier"] == "tier_1"
    assert body["data"][0]["daily"] == {"amount": "150000.00", "asset": "KES"}


async def test_an_admin_override_applies_and_is_audited(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, admin: Account
) -> None:
    path = f"/v1/admin/users/{customer.user_id}/limits/buy"
    body = {"daily": "500000", "per_transaction": "200000", "reason": "Trusted trader, KYC'd"}
    refused = await api.put(path, json=body, headers=customer.headers)
    assert refused.status_code == 403
    response = await api.put(path, json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    override = response.json()
    assert override["daily"] == {"amount": "500000.00", "asset": "KES"}
    assert override["monthly"] is None and override["set_by"] == admin.user_id

    await record(runtime, customer.user_id, 200_000, "big_buy")
    shown = await api.get(f"/v1/admin/users/{customer.user_id}/limits", headers=admin.headers)
    buy = shown.json()["data"][0]
    assert buy["overridden"] is True and buy["daily_remaining"]["amount"] == "300000.00"

    removed = await api.put(path, json={"reason": "Back to tier limits"}, headers=admin.headers)
    assert removed.status_code == 204
    async with unit_of_work(runtime.sessionmaker) as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.subject_user_id == customer.user_id)
                .where(AuditEvent.action.like("limits.%"))
                .order_by(AuditEvent.seq)
            )
        ).all()
    assert [e.action for e in events] == ["limits.override_set", "limits.override_removed"]
    assert events[0].actor_user_id == admin.user_id
    assert events[0].details["after"]["daily"] == "500000"
    assert events[1].details["before"]["per_transaction"] == "200000"
    with pytest.raises(limits.LimitExceeded):
        await record(runtime, customer.user_id, 100_000, "after_removal")


async def test_overrides_refuse_unknown_actions_and_users(
    api: httpx.AsyncClient, admin: Account, customer: Account
) -> None:
    body = {"daily": "1", "reason": "test"}
    unknown_action = await api.put(
        f"/v1/admin/users/{customer.user_id}/limits/teleport", json=body, headers=admin.headers
    )
    assert unknown_action.status_code == 404
    unknown_user = await api.put(
        "/v1/admin/users/usr_nobody/limits/buy", json=body, headers=admin.headers
    )
    assert (unknown_user.status_code, unknown_user.json()["error"]["code"]) == (
        404, "user_not_found"
    )  # fmt: skip
    negative = await api.put(
        f"/v1/admin/users/{customer.user_id}/limits/buy",
        json={"daily": "-5", "reason": "test"},
        headers=admin.headers,
    )
    assert negative.status_code == 422
