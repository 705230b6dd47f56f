"""Double-entry ledger: the one way balances change. Accounts, `post`, balances, history, reconcile.

Invariants: a journal transaction's postings sum to zero per asset; it applies once per
idempotency key; accounts are locked in one global order (by id) so concurrent posts never
deadlock; a refused post (unbalanced, overdrawn, unknown account) writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from backend.errors import Conflict, InvalidRequest, InvariantBroken, NotFound, QpeapayError
from backend.ledger.models import (
    OWNED,
    SYSTEM_ACCOUNTS,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Purpose,
)
from contract.ids import new_id
from contract.money import SUPPORTED, Asset, Money, Network, quantum
from contract.pagination import Page

# --- errors ---------------------------------------------------------------------------


class InvalidPostings(QpeapayError):
    """The caller built a journal transaction the ledger refuses: a bug upstream, never
    something a customer can cause, so it surfaces as a 500 with a reference id."""

    code = "ledger_invalid_postings"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


class InsufficientFunds(Conflict):
    code = "insufficient_funds"

    def __init__(self, account_id: str, balance: Money, needed: Money) -> None:
        super().__init__(
            f"Account {account_id} holds {balance}; this needs {needed}.",
            account_id=account_id,
        )
        self.account_id = account_id
        self.balance = balance
        self.needed = needed


class LedgerKeyReused(Conflict):
    code = "ledger_key_reused"

    def __init__(self, idempotency_key: str, transaction_id: str) -> None:
        super().__init__(
            f"Ledger key {idempotency_key!r} already posted {transaction_id} "
            "with different postings."
        )
        self.idempotency_key = idempotency_key
        self.transaction_id = transaction_id


class AccountNotFound(NotFound):
    code = "account_not_found"

    def __init__(self, account_id: str) -> None:
        super().__init__(f"No ledger account {account_id}.", account_id=account_id)
        self.account_id = account_id


class InvalidCursor(InvalidRequest):
    code, message = "invalid_cursor", "This cursor does not come from this list."


# --- values in and out ------------------------------------------------------------------


@dataclass(frozen=True)
class Posting:
    """One leg of a journal transaction: `amount` (signed) lands on `account_id`."""

    account_id: str
    amount: Money


def transfer(source_id: str, destination_id: str, amount: Money) -> list[Posting]:
    """The two legs that move a positive `amount` from one account to another."""
    if amount.amount <= 0:
        raise InvalidPostings(
            f"a transfer moves a positive amount, not {amount}", reason="not_positive"
        )
    return [Posting(source_id, -amount), Posting(destination_id, amount)]


@dataclass(frozen=True)
class Journal:
    """A journal transaction as posted. `replayed` is true when the key had already posted
    these postings and this call changed nothing."""

    id: str
    idempotency_key: str
    memo: str
    reference: str | None
    created_at: datetime
    postings: tuple[Posting, ...]
    replayed: bool


@dataclass(frozen=True)
class Entry:
    """One line of an account's history."""

    posting_id: int
    transaction_id: str
    amount: Money
    balance_after: Money
    memo: str
    reference: str | None
    created_at: datetime


@dataclass(frozen=True)
class Discrepancy:
    """Something reconcile found wrong. For an account: `expected` is the sum of its
    postings and `actual` its stored balance. For a transaction: `expected` is zero and
    `actual` what its postings in `asset` sum to."""

    kind: Literal["account_balance", "transaction_sum"]
    subject_id: str
    asset: Asset
    expected: Decimal
    actual: Decimal


# --- accounts -----------------------------------------------------------------------------


async def _get_or_create(
    session: AsyncSession,
    *,
    owner_id: str | None,
    asset: Asset,
    purpose: Purpose,
    network: Network | None,
    allow_negative: bool,
) -> LedgerAccount:
    # `= x` / `IS NULL` rather than IS NOT DISTINCT FROM, which no index can serve.
    natural = (
        LedgerAccount.owner_id.is_(None)
        if owner_id is None
        else LedgerAccount.owner_id == owner_id,
        LedgerAccount.asset == asset,
        LedgerAccount.purpose == purpose,
        LedgerAccount.network.is_(None) if network is None else LedgerAccount.network == network,
    )
    found = await session.scalar(select(LedgerAccount).where(*natural))
    if found is not None:
        return found
    await session.execute(
        insert(LedgerAccount)
        .values(
            id=new_id("acct"),
            owner_id=owner_id,
            asset=asset,
            purpose=purpose,
            network=network,
            allow_negative=allow_negative,
            balance=Decimal(0),
        )
        .on_conflict_do_nothing()
    )
    created = await session.scalar(select(LedgerAccount).where(*natural))
    if created is None:  # inserted just now, or by a racer whose commit we waited for
        raise InvariantBroken("A ledger account just upserted is missing.")
    return created


async def open_account(
    session: AsyncSession, owner_id: str, asset: Asset, purpose: Purpose = Purpose.available
) -> LedgerAccount:
    """The owner's account for `asset` and `purpose`, created on first use."""
    if purpose not in OWNED:
        raise InvalidPostings(f"{purpose} is a system purpose", reason="purpose")
    return await _get_or_create(
        session,
        owner_id=owner_id,
        asset=asset,
        purpose=purpose,
        network=None,
        allow_negative=False,
    )


async def system_account(
    session: AsyncSession, purpose: Purpose, asset: Asset, network: Network | None = None
) -> LedgerAccount:
    """The system account for `purpose` and `asset` (hot wallets: and `network`)."""
    spec = SYSTEM_ACCOUNTS.get(purpose)
    if spec is None:
        raise InvalidPostings(f"{purpose} is not a system purpose", reason="purpose")
    if (purpose is Purpose.hot_wallet) != (network is not None):
        raise InvalidPostings("hot wallets, and only they, name a network", reason="network")
    if network is not None and (asset, network) not in SUPPORTED:
        raise InvalidPostings(f"{asset} does not move on {network}", reason="network")
    return await _get_or_create(
        session,
        owner_id=None,
        asset=asset,
        purpose=purpose,
        network=network,
        allow_negative=spec.allow_negative,
    )


async def get_account(session: AsyncSession, account_id: str) -> LedgerAccount:
    account = await session.get(LedgerAccount, account_id, populate_existing=True)
    if account is None:
        raise AccountNotFound(account_id)
    return account


async def balance(session: AsyncSession, account_id: str) -> Money:
    row = (
        await session.execute(
            select(LedgerAccount.balance, LedgerAccount.asset).where(LedgerAccount.id == account_id)
        )
    ).one_or_none()
    if row is None:
        raise AccountNotFound(account_id)
    return Money(amount=row.balance, asset=Asset(row.asset))


async def accounts_of(session: AsyncSession, owner_id: str) -> list[LedgerAccount]:
    """Every account an owner has, by asset then purpose, with current balances."""
    result = await session.scalars(
        select(LedgerAccount)
        .where(LedgerAccount.owner_id == owner_id)
        .order_by(LedgerAccount.asset, LedgerAccount.purpose)
        .execution_options(populate_existing=True)
    )
    return list(result)


# --- posting --------------------------------------------------------------------------------


def _check(postings: Sequence[Posting]) -> None:
    if len(postings) < 2:
        raise InvalidPostings("a journal transaction has at least two postings", reason="empty")
    totals: dict[Asset, Decimal] = defaultdict(Decimal)
    seen: set[str] = set()
    for posting in postings:
        # One leg per account keeps balance_after unambiguous; callers net their legs.
        if posting.account_id in seen:
            raise InvalidPostings(
                f"{posting.account_id} appears twice; combine its legs", reason="duplicate"
            )
        seen.add(posting.account_id)
        amount = posting.amount
        if amount.amount == 0:
            raise InvalidPostings(f"posting to {posting.account_id} moves nothing", reason="zero")
        # Money checks this on construction; model_construct would slip past it.
        if amount.amount != amount.amount.quantize(quantum(amount.asset)):
            raise InvalidPostings(f"{amount} is not exact for {amount.asset}", reason="inexact")
        totals[amount.asset] += amount.amount
    unbalanced = {asset: total for asset, total in totals.items() if total != 0}
    if unbalanced:
        detail = ", ".join(f"{total} {asset}" for asset, total in sorted(unbalanced.items()))
        raise InvalidPostings(f"postings do not sum to zero: {detail}", reason="unbalanced")


def _fingerprint(postings: Iterable[Posting]) -> str:
    """Order-free hash of the postings, to tell a replay from a reused key."""
    canonical = sorted(
        (p.account_id, str(p.amount.asset), format(p.amount.amount, "f")) for p in postings
    )
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


async def _by_key(session: AsyncSession, idempotency_key: str) -> LedgerTransaction | None:
    return await session.scalar(
        select(LedgerTransaction).where(LedgerTransaction.idempotency_key == idempotency_key)
    )


async def _as_journal(session: AsyncSession, row: LedgerTransaction) -> Journal:
    legs = await session.execute(
        select(LedgerPosting.account_id, LedgerPosting.asset, LedgerPosting.amount)
        .where(LedgerPosting.transaction_id == row.id)
        .order_by(LedgerPosting.id)
    )
    return Journal(
        id=row.id,
        idempotency_key=row.idempotency_key,
        memo=row.memo,
        reference=row.reference,
        created_at=row.created_at,
        postings=tuple(
            Posting(leg.account_id, Money(amount=leg.amount, asset=Asset(leg.asset)))
            for leg in legs
        ),
        replayed=True,
    )


async def find_journal(session: AsyncSession, idempotency_key: str) -> Journal | None:
    """The journal transaction a key posted, if any."""
    row = await _by_key(session, idempotency_key)
    return None if row is None else await _as_journal(session, row)


async def _replay(session: AsyncSession, idempotency_key: str, fingerprint: str) -> Journal | None:
    row = await _by_key(session, idempotency_key)
    if row is None:
        return None
    if row.postings_hash != fingerprint:
        raise LedgerKeyReused(idempotency_key, row.id)
    return await _as_journal(session, row)


async def post(
    session: AsyncSession,
    idempotency_key: str,
    postings: Sequence[Posting],
    *,
    memo: str = "",
    reference: str | None = None,
) -> Journal:
    """Apply `postings` as one journal transaction, once per `idempotency_key`.

    Name keys after the business event (`invoice:inv_…:paid`), so a retried job finds its
    earlier post. Everything is checked before anything is written, so a refused post
    leaves the caller's transaction usable. Locks are held until the caller commits; put
    every leg of one business change into one `post` so the lock order stays global.
    """
    if not 0 < len(idempotency_key) <= 255:
        raise InvalidPostings("the idempotency key is 1 to 255 characters", reason="key")
    _check(postings)
    fingerprint = _fingerprint(postings)

    touched = sorted(p.account_id for p in postings)
    # Raw connection statements: this is the hot path, and the ORM adds nothing to it.
    conn = await session.connection()
    # ORDER BY puts PostgreSQL's row locking after the sort: every post takes its locks
    # in id order, so two posts over the same accounts queue instead of deadlocking.
    rows = (
        await conn.execute(
            select(
                LedgerAccount.id,
                LedgerAccount.asset,
                LedgerAccount.balance,
                LedgerAccount.allow_negative,
            )
            .where(LedgerAccount.id.in_(touched))
            .order_by(LedgerAccount.id)
            .with_for_update()
        )
    ).all()
    accounts = {row.id: row for row in rows}
    for account_id in touched:
        if account_id not in accounts:
            raise AccountNotFound(account_id)

    for posting in postings:
        account = accounts[posting.account_id]
        if posting.amount.asset != account.asset:
            raise InvalidPostings(
                f"{posting.amount} cannot post to {account.id}, a {account.asset} account",
                reason="asset_mismatch",
            )
        new_balance = account.balance + posting.amount.amount
        if new_balance < 0 and not account.allow_negative:
            # This very key may have posted already (a retry, or a racer we queued behind).
            replayed = await _replay(session, idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            asset = Asset(account.asset)
            raise InsufficientFunds(
                account.id,
                balance=Money(amount=account.balance, asset=asset),
                needed=Money(amount=-posting.amount.amount, asset=asset),
            )

    transaction_id = new_id("jtx")
    written = (
        await conn.execute(
            _WRITE,
            {
                "id": transaction_id,
                "key": idempotency_key,
                "hash": fingerprint,
                "memo": memo,
                "reference": reference,
                "accounts": [p.account_id for p in postings],
                "assets": [str(p.amount.asset) for p in postings],
                "amounts": [p.amount.amount for p in postings],
            },
        )
    ).all()
    if not written:
        # The key was taken: by an earlier post, or by a racer whose commit we waited for.
        replayed = await _replay(session, idempotency_key, fingerprint)
        if replayed is None:  # the conflicting row is committed and visible now
            raise InvariantBroken("A conflicting ledger journal is not visible.")
        return replayed

    _refresh_loaded(session, {row.account_id: row.balance_after for row in written})
    return Journal(
        id=transaction_id,
        idempotency_key=idempotency_key,
        memo=memo,
        reference=reference,
        created_at=written[0].created_at,
        postings=tuple(postings),
        replayed=False,
    )


# The whole write in one round trip, run with the accounts already locked. The journal row
# comes first: when its key exists (the insert waits for a racer holding it to commit),
# `tx` is empty and so nothing else is written. Balances move by SQL arithmetic under the
# CHECK, and each posting records the balance its update returned.
_WRITE = text(
    """
    WITH tx AS (
        INSERT INTO ledger_transactions (id, idempotency_key, postings_hash, memo, reference)
        VALUES (:id, :key, :hash, :memo, :reference)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, created_at
    ), legs AS (
        SELECT leg.account_id, leg.asset, leg.amount, leg.n
        FROM unnest(
            CAST(:accounts AS varchar[]), CAST(:assets AS varchar[]), CAST(:amounts AS numeric[])
        ) WITH ORDINALITY AS leg(account_id, asset, amount, n)
    ), moved AS (
        UPDATE ledger_accounts AS account
        SET balance = account.balance + legs.amount
        FROM legs, tx
        WHERE account.id = legs.account_id
        RETURNING account.id, account.balance
    ), posted AS (
        INSERT INTO ledger_postings (transaction_id, account_id, asset, amount, balance_after)
        SELECT tx.id, legs.account_id, legs.asset, legs.amount, moved.balance
        FROM legs JOIN moved ON moved.id = legs.account_id CROSS JOIN tx
        ORDER BY legs.n
        RETURNING account_id, balance_after
    )
    SELECT posted.account_id, posted.balance_after, tx.created_at FROM posted, tx
    """
)


def _refresh_loaded(session: AsyncSession, balances: dict[str, Decimal]) -> None:
    """Keep account objects this session already holds in step with what we wrote."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, LedgerAccount) and obj.id in balances:
            set_committed_value(obj, "balance", balances[obj.id])


# --- reading --------------------------------------------------------------------------------


async def history(
    session: AsyncSession, account_id: str, *, limit: int = 20, cursor: str | None = None
) -> Page[Entry]:
    """An account's postings, newest first. `cursor` is a page's `next_cursor`."""
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit is 1 to 100", param="limit")
    asset = (await balance(session, account_id)).asset
    query = (
        select(
            LedgerPosting.id,
            LedgerPosting.transaction_id,
            LedgerPosting.amount,
            LedgerPosting.balance_after,
            LedgerTransaction.memo,
            LedgerTransaction.reference,
            LedgerTransaction.created_at,
        )
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(LedgerPosting.account_id == account_id)
        .order_by(LedgerPosting.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidCursor(param="cursor")
        query = query.where(LedgerPosting.id < int(cursor))
    rows = (await session.execute(query)).all()
    entries = [
        Entry(
            posting_id=row.id,
            transaction_id=row.transaction_id,
            amount=Money(amount=row.amount, asset=asset),
            balance_after=Money(amount=row.balance_after, asset=asset),
            memo=row.memo,
            reference=row.reference,
            created_at=row.created_at,
        )
        for row in rows[:limit]
    ]
    has_more = len(rows) > limit
    return Page[Entry](
        data=entries,
        has_more=has_more,
        next_cursor=str(entries[-1].posting_id) if has_more else None,
    )


async def reconcile(session: AsyncSession) -> list[Discrepancy]:
    """Everything that disagrees with double entry; empty when the books are right.

    Checks that each account's stored balance equals the sum of its postings, and that
    each journal transaction sums to zero per asset. Full scans: run it from a job.
    """
    sums = (
        select(
            LedgerPosting.account_id,
            func.sum(LedgerPosting.amount).label("total"),
        )
        .group_by(LedgerPosting.account_id)
        .subquery()
    )
    posted = func.coalesce(sums.c.total, literal_column("0"))
    accounts = await session.execute(
        select(LedgerAccount.id, LedgerAccount.asset, LedgerAccount.balance, posted.label("posted"))
        .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.balance != posted)
        .order_by(LedgerAccount.id)
    )
    found = [
        Discrepancy("account_balance", row.id, Asset(row.asset), row.posted, row.balance)
        for row in accounts
    ]
    total = func.sum(LedgerPosting.amount)
    transactions = await session.execute(
        select(LedgerPosting.transaction_id, LedgerPosting.asset, total.label("total"))
        .group_by(LedgerPosting.transaction_id, LedgerPosting.asset)
        .having(total != 0)
        .order_by(LedgerPosting.transaction_id, LedgerPosting.asset)
    )
    found += [
        Discrepancy("transaction_sum", row.transaction_id, Asset(row.asset), Decimal(0), row.total)
        for row in transactions
    ]
    return found
