"""A wallet's history: deposits, withdrawals and transfers in one list, newest first.

Invariants: every source is read newest first by (created_at, id) strictly below the
cursor, and the merge takes the newest `limit` of them, so pages never repeat or skip a
line however the sources interleave; the cursor is the (created_at, id) of a page's last
line, opaque to callers.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from backend.chains import deposits
from backend.errors import InvalidRequest
from backend.transfers import service as transfers
from backend.transfers.models import Transfer
from backend.withdrawals.models import Withdrawal
from contract.deposits import Deposit, PaymentStatus
from contract.ids import looks_like_id
from contract.money import Asset, Money, Network
from contract.pagination import Page
from contract.wallets import (
    Transaction,
    TransactionKind,
    TransactionQuery,
    TransactionStatus,
    WithdrawalStatus,
)

Cursor = tuple[datetime, str]
Source = Callable[
    [AsyncSession, str, int, Cursor | None, Asset | None], Awaitable[list[Transaction]]
]

_WITHDRAWAL_STATUS = {
    WithdrawalStatus.requested: TransactionStatus.pending,
    WithdrawalStatus.signed: TransactionStatus.pending,
    WithdrawalStatus.broadcast: TransactionStatus.pending,
    WithdrawalStatus.confirmed: TransactionStatus.completed,
    WithdrawalStatus.failed: TransactionStatus.failed,
}
_DEPOSIT_STATUS = {
    PaymentStatus.seen: TransactionStatus.pending,
    PaymentStatus.confirmed: TransactionStatus.completed,
    PaymentStatus.replaced: TransactionStatus.failed,
    PaymentStatus.reorged: TransactionStatus.failed,
    PaymentStatus.failed: TransactionStatus.failed,
}


class InvalidCursor(InvalidRequest):
    code, message = "invalid_cursor", "This cursor does not come from this list."


def encode_cursor(line: Transaction) -> str:
    raw = f"{line.created_at.isoformat()}|{line.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, line_id = raw.partition("|")
        moment = datetime.fromisoformat(created)
        # In UTC now: a zone offset at the ends of the calendar cannot be converted later.
        moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    except (ValueError, OverflowError):
        raise InvalidCursor(param="cursor") from None
    if not looks_like_id(line_id) or moment.tzinfo is None:
        raise InvalidCursor(param="cursor")
    return moment, line_id


def _older(
    created_at: QueryableAttribute[datetime], row_id: QueryableAttribute[str], before: Cursor | None
) -> ColumnElement[bool]:
    if before is None:
        return true()
    return tuple_(created_at, row_id) < tuple_(*before)


# ---------------------------------------------------------------------------------- sources


def _deposit_line(deposit: Deposit) -> Transaction:
    return Transaction(
        id=deposit.id,
        kind=TransactionKind.deposit,
        status=_DEPOSIT_STATUS[deposit.status],
        state=deposit.status,
        asset=deposit.amount.asset,
        network=deposit.network,
        amount=deposit.amount,
        fee=Money.zero(deposit.amount.asset),
        address=deposit.address,
        txid=deposit.txid,
        confirmations=deposit.confirmations,
        created_at=deposit.created_at,
    )


async def _deposits(
    session: AsyncSession, user_id: str, limit: int, before: Cursor | None, asset: Asset | None
) -> list[Transaction]:
    # Filtered by asset, not by the asset's networks: an asset no wallet holds (KES, ETH)
    # is a valid filter with nothing behind it.
    found = await deposits.list_deposits(session, user_id, limit=limit, before=before, asset=asset)
    return [_deposit_line(deposit) for deposit in found]


async def _withdrawals(
    session: AsyncSession, user_id: str, limit: int, before: Cursor | None, asset: Asset | None
) -> list[Transaction]:
    query = (
        select(Withdrawal)
        .where(
            or_(Withdrawal.user_id == user_id, Withdrawal.recipient_id == user_id),
            _older(Withdrawal.created_at, Withdrawal.id, before),
        )
        .order_by(Withdrawal.created_at.desc(), Withdrawal.id.desc())
        .limit(limit)
    )
    if asset is not None:
        query = query.where(Withdrawal.asset == asset)
    rows = list(await session.scalars(query))
    names = await transfers.emails(session, {row.user_id for row in rows if row.user_id != user_id})
    lines = []
    for row in rows:
        coin = Asset(row.asset)
        incoming = row.user_id != user_id  # another customer paid this user's address
        lines.append(
            Transaction(
                id=row.id,
                kind=TransactionKind.deposit if incoming else TransactionKind.withdrawal,
                status=_WITHDRAWAL_STATUS[WithdrawalStatus(row.status)],
                state=row.status,
                asset=coin,
                network=Network(row.network),
                amount=Money(amount=row.amount, asset=coin),
                fee=Money(
                    amount=Decimal(0) if incoming else row.network_fee + row.platform_fee,
                    asset=coin,
                ),
                address=row.address,
                counterparty=names.get(row.user_id) if incoming else None,
                txid=row.txid,
                confirmations=None if row.internal else row.confirmations,
                created_at=row.created_at,
            )
        )
    return lines


async def _transfers(
    session: AsyncSession, user_id: str, limit: int, before: Cursor | None, asset: Asset | None
) -> list[Transaction]:
    query = (
        select(Transfer)
        .where(
            or_(Transfer.sender_id == user_id, Transfer.recipient_id == user_id),
            _older(Transfer.created_at, Transfer.id, before),
        )
        .order_by(Transfer.created_at.desc(), Transfer.id.desc())
        .limit(limit)
    )
    if asset is not None:
        query = query.where(Transfer.asset == asset)
    rows = list(await session.scalars(query))
    others = {row.recipient_id if row.sender_id == user_id else row.sender_id for row in rows}
    names = await transfers.emails(session, others)
    lines = []
    for row in rows:
        sent = row.sender_id == user_id
        coin = Asset(row.asset)
        lines.append(
            Transaction(
                id=row.id,
                kind=TransactionKind.transfer_out if sent else TransactionKind.transfer_in,
                status=TransactionStatus.completed,
                state="completed",
                asset=coin,
                amount=Money(amount=row.amount, asset=coin),
                fee=Money.zero(coin),
                counterparty=names.get(row.recipient_id if sent else row.sender_id),
                created_at=row.created_at,
            )
        )
    return lines


SOURCES: tuple[Source, ...] = (_deposits, _withdrawals, _transfers)


async def page(session: AsyncSession, user_id: str, query: TransactionQuery) -> Page[Transaction]:
    before = decode_cursor(query.cursor) if query.cursor else None
    lines: list[Transaction] = []
    for source in SOURCES:
        lines += await source(session, user_id, query.limit + 1, before, query.asset)
    lines.sort(key=lambda line: (line.created_at, line.id), reverse=True)
    shown, more = lines[: query.limit], len(lines) > query.limit
    return Page[Transaction](
        data=shown,
        has_more=more,
        next_cursor=encode_cursor(shown[-1]) if more and shown else None,
    )
