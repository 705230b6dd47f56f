"""Customer wallet deposits: credit on confirmation, reverse on a reorg, pending and history.

Invariants: a confirmed deposit moves its amount from the network's hot-wallet account to
the owner's `available` account exactly once per confirmation (ledger key
`deposit:<network>:<txid>:<index>:credit:<n>`); a reorg reverses a standing credit with its
own key (`…:reverse:<n>`), so a transaction re-mined afterwards is credited again as
credit n+1 and never twice at once. A reversal takes back what the owner still holds; any
shortfall (already spent) is charged to the treasury and logged for someone to recover.
Failed (reverted) transfers are never credited. A seen deposit is `pending` for the
wallet, computed from the payments here rather than held in the ledger.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, case, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.chains.models import IN_BLOCK, ChainCursor, Payment
from backend.errors import InvariantBroken
from backend.events.service import emit
from backend.keys.models import AddressPurpose
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.logs import get_logger
from contract.deposits import Deposit, PaymentStatus
from contract.money import Asset, Money, Network

log = get_logger(__name__)

_REVERSAL_TRIES = 3  # the owner's balance may change between reading it and posting


def _key(payment: Payment, verb: str, generation: int) -> str:
    return f"deposit:{payment.network}:{payment.txid}:{payment.output_index}:{verb}:{generation}"


def view(payment: Payment, confirmations: int | None = None) -> Deposit:
    """The wire view; `confirmations` as counted now (default: as the watcher last stored
    them, none for a payment out of the chain)."""
    if confirmations is None:
        gone = payment.state in (PaymentStatus.reorged, PaymentStatus.replaced)
        confirmations = 0 if gone else payment.confirmations
    return Deposit(
        id=payment.id,
        network=Network(payment.network),
        amount=payment.money(),
        address=payment.address,
        txid=payment.txid,
        index=payment.output_index,
        status=payment.state,
        confirmations=confirmations,
        required_confirmations=payment.required_confirmations,
        block_height=payment.block_height,
        created_at=payment.created_at,
        confirmed_at=payment.confirmed_at,
    )


async def on_payment(
    session: AsyncSession, payment: Payment, previous: PaymentStatus | None
) -> None:
    """The claim of wallet deposit addresses (see backend.chains.claims.CLAIMS)."""
    if payment.owner_id is None:
        raise ValueError(f"deposit {payment.id} has no owner")
    if payment.state is PaymentStatus.confirmed:
        await _credit(session, payment)
    elif payment.credited:
        await _reverse(session, payment)
    await emit(
        session,
        f"deposit.{payment.status}",
        payment.id,
        view(payment),
        owner_id=payment.owner_id,
    )


async def _accounts(session: AsyncSession, payment: Payment) -> tuple[str, str]:
    asset, network = Asset(payment.asset), Network(payment.network)
    if payment.owner_id is None:
        raise InvariantBroken(f"Deposit payment {payment.id} has no owner.")
    hot = await ledger.system_account(session, Purpose.hot_wallet, asset, network)
    wallet = await ledger.open_account(session, payment.owner_id, asset, Purpose.available)
    return hot.id, wallet.id


async def _credit(session: AsyncSession, payment: Payment) -> None:
    if payment.credited:
        return
    generation = payment.credit_count + 1
    hot, wallet = await _accounts(session, payment)
    journal = await ledger.post(
        session,
        _key(payment, "credit", generation),
        ledger.transfer(hot, wallet, payment.money()),
        memo=f"{payment.network} deposit {payment.txid}:{payment.output_index}",
        reference=payment.id,
    )
    await _mark(session, payment, credited=True, credit_count=generation)
    log.info("deposits.credited", payment_id=payment.id, journal_id=journal.id)


async def _reverse(session: AsyncSession, payment: Payment) -> None:
    hot, wallet = await _accounts(session, payment)
    amount = payment.money()
    asset = amount.asset
    for attempt in range(1, _REVERSAL_TRIES + 1):
        held = await ledger.balance(session, wallet)
        taken = min(held.amount, amount.amount)
        shortfall = amount.amount - taken
        postings = [ledger.Posting(hot, amount)]
        if taken > 0:
            postings.append(ledger.Posting(wallet, Money(amount=-taken, asset=asset)))
        if shortfall > 0:
            treasury = await ledger.system_account(session, Purpose.treasury, asset)
            postings.append(ledger.Posting(treasury.id, Money(amount=-shortfall, asset=asset)))
        try:
            journal = await ledger.post(
                session,
                _key(payment, "reverse", payment.credit_count),
                postings,
                memo=f"{payment.network} deposit {payment.txid}:{payment.output_index} reorged",
                reference=payment.id,
            )
            break
        except ledger.InsufficientFunds:
            if attempt == _REVERSAL_TRIES:
                raise
    await _mark(session, payment, credited=False, credit_count=payment.credit_count)
    if shortfall > 0:
        log.error(
            "deposits.reversal_shortfall",
            payment_id=payment.id,
            owner_id=payment.owner_id,
            shortfall=str(shortfall),
            asset=asset,
        )
    log.warning("deposits.reversed", payment_id=payment.id, journal_id=journal.id)


async def _mark(
    session: AsyncSession, payment: Payment, *, credited: bool, credit_count: int
) -> None:
    moved = await session.scalar(
        update(Payment)
        .where(Payment.id == payment.id, Payment.credited.is_not(credited))
        .values(credited=credited, credit_count=credit_count)
        .returning(Payment.id)
    )
    if moved is None:
        raise RuntimeError(f"deposit {payment.id} changed credit state under the watcher")
    payment.credited, payment.credit_count = credited, credit_count


# ----------------------------------------------------------------------------- reading


def _live_confirmations() -> ColumnElement[int]:
    """Blocks from the payment's block to the cursor (what the watcher scanned), counting it."""
    in_chain = and_(
        Payment.block_height.is_not(None),
        Payment.status.in_(list(IN_BLOCK)),
    )
    depth = func.greatest(ChainCursor.height - Payment.block_height + 1, 0)
    return case((in_chain, func.coalesce(depth, 0)), else_=0)


async def pending_totals(
    session: AsyncSession, owner_id: str
) -> dict[tuple[Asset, Network], Money]:
    """What the owner has on the way: seen, not yet confirmed deposits per (asset, network).

    Only pairs with something pending are present.
    """
    rows = await session.execute(
        select(Payment.asset, Payment.network, func.sum(Payment.amount))
        .where(
            Payment.owner_id == owner_id,
            Payment.purpose == AddressPurpose.deposit,
            Payment.status == PaymentStatus.seen,
        )
        .group_by(Payment.asset, Payment.network)
    )
    return {
        (Asset(asset), Network(network)): Money(amount=Decimal(total), asset=Asset(asset))
        for asset, network, total in rows
    }


async def list_deposits(
    session: AsyncSession,
    owner_id: str,
    *,
    limit: int = 20,
    before: tuple[datetime, str] | None = None,
    asset: Asset | None = None,
    network: Network | None = None,
) -> list[Deposit]:
    """The owner's deposits, newest first (by `created_at`, then `id`).

    `before` is the (created_at, id) of the last row of the previous page: rows strictly
    older come back, so a caller merging several histories pages them with one cursor.
    """
    query = (
        select(Payment, _live_confirmations().label("live"))
        .outerjoin(ChainCursor, ChainCursor.network == Payment.network)
        .where(Payment.owner_id == owner_id, Payment.purpose == AddressPurpose.deposit)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    )
    if asset is not None:
        query = query.where(Payment.asset == asset)
    if network is not None:
        query = query.where(Payment.network == network)
    if before is not None:
        created_at, payment_id = before
        query = query.where(tuple_(Payment.created_at, Payment.id) < tuple_(created_at, payment_id))
    rows = await session.execute(query)
    return [view(payment, live) for payment, live in rows]


async def get_deposit(session: AsyncSession, owner_id: str, payment_id: str) -> Deposit | None:
    """One of the owner's deposits, or None (also for someone else's)."""
    row = (
        await session.execute(
            select(Payment, _live_confirmations())
            .outerjoin(ChainCursor, ChainCursor.network == Payment.network)
            .where(
                Payment.id == payment_id,
                Payment.owner_id == owner_id,
                Payment.purpose == AddressPurpose.deposit,
            )
        )
    ).one_or_none()
    return None if row is None else view(row[0], row[1])
