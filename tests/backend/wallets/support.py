"""Helpers for the wallet tests (wallets, withdrawals, transfers, treasury): money put into a
wallet the way a confirmed deposit puts it, balances read through the API, generous limits
for tests that send many times, and the books checked after every story."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import httpx

from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.runtime import Runtime
from contract.money import Asset, Money, Network
from tests.identity import Account

_keys = itertools.count(1)


def key() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": f"test-{next(_keys)}"}


async def credit(runtime: Runtime, user_id: str, amount: str, asset: Asset, network: Network
                 ) -> None:  # fmt: skip
    """What a confirmed deposit does to the ledger: the network's hot wallet account → the
    user's available balance."""
    money = Money.of(amount, asset)
    async with unit_of_work(runtime.sessionmaker) as session:
        hot = await ledger.system_account(session, Purpose.hot_wallet, asset, network)
        mine = await ledger.open_account(session, user_id, asset)
        await ledger.post(
            session, f"test-deposit:{next(_keys)}", ledger.transfer(hot.id, mine.id, money)
        )


async def wallet(api: httpx.AsyncClient, account: Account, asset: Asset) -> dict[str, Any]:
    response = await api.get("/v1/wallets", headers=account.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()[asset]
    return found


async def available(api: httpx.AsyncClient, account: Account, asset: Asset) -> Decimal:
    return Decimal((await wallet(api, account, asset))["available"])


async def unlimited(api: httpx.AsyncClient, admin: Account, account: Account) -> None:
    """Lift the account's send limits (an admin override) for tests that send a lot."""
    response = await api.put(
        f"/v1/admin/users/{account.user_id}/limits/withdraw",
        json={
            "per_transaction": "100000000",
            "daily": "100000000",
            "monthly": "100000000",
            "per_hour": 10_000,
            "reason": "load test",
        },
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text


async def books_balance(runtime: Runtime) -> None:
    """Double entry holds: every account equals its postings, every journal sums to zero."""
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await ledger.reconcile(session) == []
