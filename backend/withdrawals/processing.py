"""Moving an on-chain withdrawal along: sign in the signer, broadcast, track to confirmed.

    advance(session, runtime, withdrawal_id) -> bool    one step; True when it moved

Each call does at most one step and reads everything it acts on again, so running it twice,
or in two workers at once, changes nothing the second time: the row is locked (a busy row is
skipped, not waited for), signing is once per withdrawal (outbound.sign), and broadcasting
sends only the recorded bytes. Signing commits before broadcasting: the caller runs each
step in its own transaction and enqueues the next one after the commit.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import queue
from backend.connectors.chain import ChainError
from backend.errors import InvariantBroken
from backend.keys import service as keys
from backend.keys.errors import FeeAboveCap, RefusedToSign
from backend.logs import get_logger
from backend.runtime import Runtime
from backend.treasury import outbound
from backend.treasury.models import OutboundKind, OutboundStatus
from backend.withdrawals import service
from backend.withdrawals.models import Withdrawal
from contract.money import Asset, Money, Network
from contract.wallets import WithdrawalStatus

log = get_logger(__name__)

NOT_SENT = (
    "We could not send this withdrawal in time. The funds are back in your balance; "
    "please try again."
)
REFUSED = "The network refused this withdrawal. The funds are back in your balance."
REVERTED = "The transaction failed on the network. The funds are back in your balance."
FEES_TOO_HIGH = (
    "Network fees are unusually high, so we did not send this withdrawal. The funds are back "
    "in your balance; please try again later."
)
NOT_SIGNED = "We could not sign this withdrawal. The funds are back in your balance."


async def _lock(session: AsyncSession, withdrawal_id: str) -> Withdrawal | None:
    row: Withdrawal | None = await session.scalar(
        select(Withdrawal)
        .where(Withdrawal.id == withdrawal_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return row


async def _overdue(session: AsyncSession, runtime: Runtime, row: Withdrawal) -> bool:
    limit = timedelta(seconds=runtime.settings.withdrawal_send_within_s)
    late = await session.scalar(
        select(Withdrawal.id).where(
            Withdrawal.id == row.id, Withdrawal.created_at < func.now() - limit
        )
    )
    return late is not None


async def _sign(session: AsyncSession, runtime: Runtime, row: Withdrawal) -> bool:
    if await _overdue(session, runtime, row):
        await service.fail(session, row, "not_sent", NOT_SENT)
        return True
    network = Network(row.network)
    source = await keys.hot_wallet(session, runtime.settings, network)
    try:
        tx = await outbound.sign(
            session,
            runtime,
            kind=OutboundKind.withdrawal,
            reference_id=row.id,
            source=source,
            to=row.address,
            amount=Money(amount=row.amount, asset=Asset(row.asset)),
        )
    except outbound.SenderBusy:
        return False  # the hot wallet's previous transaction goes out first
    except outbound.CannotSendYet as exc:
        # The hot wallet lacks coins or gas: a treasury matter, retried until the sweeper or
        # an operator tops it up (or the withdrawal is overdue and fails).
        log.warning("withdrawals.cannot_sign", withdrawal_id=row.id, network=network, **exc.extra)
        return False
    except ChainError as exc:
        log.warning("withdrawals.node_trouble", withdrawal_id=row.id, error=exc.code)
        return False
    except RefusedToSign as exc:
        # Final: the same request would be refused again (a fee over the cap, an amount the
        # signer will not move), so it fails now and the hold returns, rather than retrying.
        log.warning("withdrawals.refused_to_sign", withdrawal_id=row.id, reason=exc.message)
        message = FEES_TOO_HIGH if isinstance(exc, FeeAboveCap) else NOT_SIGNED
        await service.fail(session, row, exc.code, message)
        return True
    await service.transition(session, row, WithdrawalStatus.signed, txid=tx.txid, outbound_id=tx.id)
    return True


async def _broadcast(session: AsyncSession, runtime: Runtime, row: Withdrawal) -> bool:
    if row.outbound_id is None:
        raise InvariantBroken(f"Withdrawal {row.id} is past signing without a transaction.")
    tx = await outbound.broadcast(session, runtime, await outbound.get(session, row.outbound_id))
    if tx.status == OutboundStatus.broadcast:
        await service.transition(session, row, WithdrawalStatus.broadcast)
        return True
    if tx.status == OutboundStatus.failed:
        await service.fail(session, row, "broadcast_rejected", REFUSED)
        return True
    return False


async def _track(session: AsyncSession, runtime: Runtime, row: Withdrawal) -> bool:
    if row.outbound_id is None:
        raise InvariantBroken(f"Withdrawal {row.id} is past signing without a transaction.")
    tx = await outbound.track(session, runtime, await outbound.get(session, row.outbound_id))
    if tx.status == OutboundStatus.confirmed:
        await service.confirm(session, row, confirmations=tx.confirmations)
        return True
    if tx.status == OutboundStatus.failed:
        await service.fail(session, row, "reverted", REVERTED, confirmations=tx.confirmations)
        return True
    if tx.confirmations != row.confirmations:
        row.confirmations = tx.confirmations
    return False


async def advance(session: AsyncSession, runtime: Runtime, withdrawal_id: str) -> bool:
    """Take one withdrawal one step further; the next step is enqueued after the commit."""
    row = await _lock(session, withdrawal_id)
    if row is None:
        return False  # unknown, or another worker is on it right now
    status = WithdrawalStatus(row.status)
    if status is WithdrawalStatus.requested:
        moved = await _sign(session, runtime, row)
    elif status is WithdrawalStatus.signed:
        moved = await _broadcast(session, runtime, row)
    elif status is WithdrawalStatus.broadcast:
        moved = await _track(session, runtime, row)
    else:
        return False
    if moved and WithdrawalStatus(row.status) in (
        WithdrawalStatus.signed,
        WithdrawalStatus.broadcast,
    ):
        queue.enqueue_after_commit(session, service.ADVANCE_JOB, row.id)
    return moved
