"""P2P transfers through the API: by email or phone, instantly in the ledger, with clear
refusals that move nothing, Idempotency-Key replays, limits, and the books in balance."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from backend.db import unit_of_work, utcnow
from backend.limits.models import LimitUsage
from backend.runtime import Runtime
from backend.transfers.models import Transfer
from backend.users.models import User
from contract.money import Asset, Network
from tests.backend.wallets.support import available, books_balance, credit, key, unlimited
from tests.identity import Account, make_account
from tests.rates_feed import RatesFeed


@pytest.fixture(autouse=True)
def _market(rates_feed: RatesFeed) -> None:
    """Limits count KES equivalents, so every transfer needs a rate."""


async def send(api: httpx.AsyncClient, sender: Account, **body: Any) -> httpx.Response:
    return await api.post("/v1/transfers", json=body, headers=sender.headers | key())


async def transfers_in_db(runtime: Runtime) -> int:
    async with unit_of_work(runtime.sessionmaker) as session:
        return int(await session.scalar(select(func.count()).select_from(Transfer)) or 0)


async def test_a_transfer_by_email_moves_money_at_once(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "50", Asset.USDT, Network.tron)

    response = await send(
        api, customer, to=merchant.email.upper(), asset="USDT", amount="12.5", note="lunch"
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["direction"] == "sent" and body["counterparty"] == merchant.email
    assert body["amount"] == {"amount": "12.500000", "asset": "USDT"}
    assert body["status"] == "completed" and body["note"] == "lunch"
    assert await available(api, customer, Asset.USDT) == Decimal("37.5")
    assert await available(api, merchant, Asset.USDT) == Decimal("12.5")
    # The recipient reads it as received, from the sender.
    theirs = await api.get(f"/v1/transfers/{body['id']}", headers=merchant.headers)
    assert theirs.json()["direction"] == "received"
    assert theirs.json()["counterparty"] == customer.email
    await books_balance(runtime)


async def test_a_transfer_by_phone_in_any_local_form(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "0.01", Asset.BTC, Network.bitcoin)
    local = "0" + merchant.phone.removeprefix("+254")  # 07XX XXX XXX

    response = await send(api, customer, to=f"{local[:4]} {local[4:]}", asset="BTC",
                          amount="0.004")  # fmt: skip

    assert response.status_code == 201, response.text
    assert await available(api, merchant, Asset.BTC) == Decimal("0.004")
    assert await available(api, customer, Asset.BTC) == Decimal("0.006")


@pytest.mark.parametrize(
    ("to", "status", "code"),
    [
        ("nobody@example.test", 404, "recipient_not_found"),
        ("+254799999999", 404, "recipient_not_found"),
        ("not an email or phone", 400, "recipient_invalid"),
    ],
)
async def test_unknown_recipients_are_refused_and_nothing_moves(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, to: str, status: int, code: str
) -> None:
    await credit(runtime, customer.user_id, "10", Asset.USDT, Network.ethereum)

    response = await send(api, customer, to=to, asset="USDT", amount="1")

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["param"] == "to"
    assert await available(api, customer, Asset.USDT) == Decimal(10)
    assert await transfers_in_db(runtime) == 0


async def test_refusals_in_plain_words(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, admin: Account
) -> None:
    unverified = await make_account(api, runtime, verified=False)
    await credit(runtime, customer.user_id, "10", Asset.USDT, Network.ethereum)

    cases = {
        "self": await send(api, customer, to=customer.email, asset="USDT", amount="1"),
        "unverified": await send(api, customer, to=unverified.email, asset="USDT", amount="1"),
        "admin": await send(api, customer, to=admin.email, asset="USDT", amount="1"),
    }

    assert cases["self"].json()["error"]["code"] == "send_to_self"
    assert cases["unverified"].status_code == 400
    assert cases["unverified"].json()["error"]["code"] == "recipient_not_verified"
    assert cases["admin"].json()["error"]["code"] == "recipient_not_found"
    assert await available(api, customer, Asset.USDT) == Decimal(10)


async def test_more_than_the_balance_is_a_409_with_both_amounts(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "10", Asset.USDT, Network.ethereum)

    response = await send(api, customer, to=merchant.email, asset="USDT", amount="10.000001")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_funds"
    assert "10.000000" in error["message"] and "10.000001" in error["message"]
    assert "acct_" not in error["message"]
    assert await transfers_in_db(runtime) == 0
    assert await available(api, merchant, Asset.USDT) == 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"asset": "USDT", "amount": "1.0000001"}, "USDT has 6 decimals"),
        ({"asset": "USDT", "amount": "0"}, "positive"),
        ({"asset": "USDT", "amount": "-5"}, "positive"),
        ({"asset": "KES", "amount": "5"}, "not held in wallets"),
        ({"asset": "USDT", "amount": 1.5}, "never floats"),
    ],
)
async def test_bad_amounts_are_422(
    api: httpx.AsyncClient, customer: Account, merchant: Account, body: dict[str, Any], param: str
) -> None:
    response = await send(api, customer, to=merchant.email, **body)

    assert response.status_code == 422
    assert param in response.json()["error"]["message"]


async def test_an_unverified_sender_is_told_to_verify(
    api: httpx.AsyncClient, runtime: Runtime, merchant: Account
) -> None:
    sender = await make_account(api, runtime, verified=False)
    await credit(runtime, sender.user_id, "10", Asset.USDT, Network.ethereum)

    response = await send(api, sender, to=merchant.email, asset="USDT", amount="1")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "verification_required"


async def test_a_replayed_request_pays_once(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "10", Asset.USDT, Network.ethereum)
    headers = customer.headers | key()
    body = {"to": merchant.email, "asset": "USDT", "amount": "3"}

    first, second = await asyncio.gather(
        api.post("/v1/transfers", json=body, headers=headers),
        api.post("/v1/transfers", json=body, headers=headers),
    )
    third = await api.post("/v1/transfers", json=body, headers=headers)
    other = await api.post("/v1/transfers", json=body | {"amount": "4"}, headers=headers)

    answered = sorted([first, second], key=lambda r: r.status_code)
    assert answered[0].status_code == 201
    # The racer either waited and replayed, or was told the first is still running.
    assert answered[1].status_code in (201, 409)
    assert third.status_code == 201 and third.headers["Idempotent-Replayed"] == "true"
    assert third.json()["id"] == answered[0].json()["id"]
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await available(api, merchant, Asset.USDT) == Decimal(3)
    assert await transfers_in_db(runtime) == 1


async def test_a_phone_shared_by_two_verified_accounts_asks_for_the_email(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    twin = await make_account(api, runtime)
    async with unit_of_work(runtime.sessionmaker) as session:
        user = await session.get(User, twin.user_id)
        assert user is not None
        user.phone, user.phone_verified_at = merchant.phone, utcnow()
    await credit(runtime, customer.user_id, "10", Asset.USDT, Network.ethereum)

    response = await send(api, customer, to=merchant.phone, asset="USDT", amount="1")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "recipient_ambiguous"


async def test_transfers_count_against_the_send_limits(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account,
    admin: Account,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "2", Asset.BTC, Network.bitcoin)

    # Tier 1 sends at most KES 70,000 at once; 1 BTC is about KES 8.6 million.
    response = await send(api, customer, to=merchant.email, asset="BTC", amount="1")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "limit_exceeded"
    assert await available(api, customer, Asset.BTC) == Decimal(2)

    await unlimited(api, admin, customer)
    assert (await send(api, customer, to=merchant.email, asset="BTC", amount="1")).status_code \
        == 201  # fmt: skip


async def preview(api: httpx.AsyncClient, sender: Account, **query: str) -> httpx.Response:
    return await api.get("/v1/transfers/preview", params=query, headers=sender.headers)


async def test_a_preview_checks_everything_the_transfer_would_and_moves_nothing(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "10", Asset.USDT, Network.tron)
    await credit(runtime, customer.user_id, "2", Asset.BTC, Network.bitcoin)
    local = "0" + merchant.phone.removeprefix("+254")

    fine = await preview(api, customer, to=local, asset="USDT", amount="7.5")
    cases = {
        "unknown": await preview(api, customer, to="nobody@example.test", asset="USDT",
                                 amount="1"),
        "self": await preview(api, customer, to=customer.email, asset="USDT", amount="1"),
        "over": await preview(api, customer, to=merchant.email, asset="USDT", amount="10.5"),
        "limit": await preview(api, customer, to=merchant.email, asset="BTC", amount="1"),
    }  # fmt: skip

    assert fine.status_code == 200, fine.text
    assert fine.json() == {
        "to": merchant.phone, "asset": "USDT",
        "amount": {"amount": "7.500000", "asset": "USDT"},
        "fee": {"amount": "0.000000", "asset": "USDT"},
        "total": {"amount": "7.500000", "asset": "USDT"},
        "available": {"amount": "10.000000", "asset": "USDT"},
    }  # fmt: skip
    answers = {name: (r.status_code, r.json()["error"]["code"]) for name, r in cases.items()}
    assert answers == {
        "unknown": (404, "recipient_not_found"),
        "self": (400, "send_to_self"),
        "over": (409, "insufficient_funds"),
        "limit": (403, "limit_exceeded"),
    }
    assert "No Qpeapay account has that email or phone number." in cases["unknown"].text
    assert "your own account" in cases["self"].text
    assert await available(api, merchant, Asset.USDT) == 0
    assert await available(api, customer, Asset.USDT) == 10
    assert await transfers_in_db(runtime) == 0
    async with unit_of_work(runtime.sessionmaker) as session:
        assert not await session.scalar(select(func.count()).select_from(LimitUsage))


async def test_a_preview_needs_a_signed_in_sender_and_is_rate_limited(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    anonymous = await api.get(
        "/v1/transfers/preview", params={"to": merchant.email, "asset": "USDT", "amount": "1"}
    )
    assert anonymous.status_code == 401

    runtime.settings.rate_limit_recipient_lookup = "3/hour"
    try:
        answers = [
            await preview(api, customer, to=f"guess{n}@example.test", asset="USDT", amount="1")
            for n in range(4)
        ]
        others = await preview(api, merchant, to=customer.email, asset="USDT", amount="1")
    finally:
        runtime.settings.rate_limit_recipient_lookup = "30/hour"

    assert [answer.status_code for answer in answers] == [404, 404, 404, 429]
    assert int(answers[-1].headers["retry-after"]) > 0
    assert others.status_code == 409  # another sender has their own budget (and no USDT)
