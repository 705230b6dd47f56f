"""Test helper: drives the ledger service the way callers do, one unit of work per step."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.ledger.models import LedgerAccount, Purpose
from backend.runtime import Runtime
from contract.ids import new_id
from contract.money import Asset, Money


class Books:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def uow(self) -> AbstractAsyncContextManager[AsyncSession]:
        return unit_of_work(self.runtime.sessionmaker)

    async def open(self, asset: Asset, owner_id: str | None = None) -> str:
        async with self.uow() as session:
            account = await ledger.open_account(session, owner_id or new_id("usr"), asset)
            return account.id

    async def treasury(self, asset: Asset) -> str:
        async with self.uow() as session:
            return (await ledger.system_account(session, Purpose.treasury, asset)).id

    async def fund(self, account_id: str, amount: Money) -> None:
        source = await self.treasury(amount.asset)
        await self.post(ledger.transfer(source, account_id, amount))

    async def funded(self, amount: Money) -> str:
        account_id = await self.open(amount.asset)
        if not amount.is_zero():
            await self.fund(account_id, amount)
        return account_id

    async def post(
        self, postings: Sequence[ledger.Posting], key: str | None = None, memo: str = ""
    ) -> ledger.Journal:
        async with self.uow() as session:
            return await ledger.post(session, key or new_id("req"), postings, memo=memo)

    async def balance(self, account_id: str) -> Money:
        async with self.uow() as session:
            return await ledger.balance(session, account_id)

    async def reconcile(self) -> list[ledger.Discrepancy]:
        async with self.uow() as session:
            return await ledger.reconcile(session)

    async def totals(self) -> dict[str, Decimal]:
        """Sum of every balance per asset: zero when no value was created or destroyed."""
        async with self.uow() as session:
            rows = await session.execute(
                select(LedgerAccount.asset, func.sum(LedgerAccount.balance)).group_by(
                    LedgerAccount.asset
                )
            )
            return {asset: total for asset, total in rows}
