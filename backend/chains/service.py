"""Payments to our addresses: record a sighting once, move status only along ALLOWED.

Invariants: a transfer is recorded once per (network, txid, index) and a second sight of it
in the same place changes nothing; every status change is a compare-and-set UPDATE whose
claim (backend.chains.claims) runs in the same transaction; a payment whose block left the
chain is `reorged` before anything else happens to it, so a standing credit is always
reversed before the payment can be credited again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend import machine
from backend.chains import claims
from backend.chains.models import ALLOWED, IN_BLOCK, Payment
from backend.connectors.chain import BlockRef, Transfer
from backend.errors import InvariantBroken
from backend.keys.models import ChainAddress
from backend.logs import get_logger
from contract.deposits import PaymentStatus
from contract.ids import new_id

log = get_logger(__name__)


def _block_values(block: BlockRef | None) -> dict[str, Any]:
    return {
        "block_height": None if block is None else block.height,
        "block_hash": None if block is None else block.hash,
        "confirmations": 0,
    }


def _initial(transfer: Transfer) -> PaymentStatus:
    return PaymentStatus.seen if transfer.succeeded else PaymentStatus.failed


async def transition(
    session: AsyncSession, payment: Payment, to: PaymentStatus, **values: Any
) -> None:
    """Move `payment` to `to` (compare-and-set on the status it was read in), then tell its
    claim.

    `values` are other columns to set in the same UPDATE (the block, confirmed_at…). Only the
    network's watcher (one, by lock) writes payments, so InvalidTransition here is a bug.
    """
    previous = payment.state
    moved = await machine.transition(
        session, Payment, payment.id, ALLOWED, to, expect=previous, values=values
    )
    log.info(
        "chains.payment_moved",
        payment_id=payment.id,
        network=payment.network,
        txid=payment.txid,
        index=payment.output_index,
        status=to,
        previous=previous,
    )
    await claims.notify(session, moved, previous)


async def orphan(session: AsyncSession, payment: Payment) -> None:
    """The payment's block is no longer in the chain: `reorged` (its claim unwinds any credit)."""
    await transition(session, payment, PaymentStatus.reorged)


async def record(
    session: AsyncSession,
    transfer: Transfer,
    address: ChainAddress,
    required_confirmations: int,
) -> Payment | None:
    """Record one sighting of `transfer` (in a block, or in the mempool when `block` is None).

    Returns the payment when this sighting changed it, None when it changed nothing.
    """
    if transfer.amount.amount <= 0:
        # Zero-value token transfers are address-poisoning spam: nothing to credit or show.
        return None
    block = transfer.block
    payment: Payment | None = await session.scalar(
        insert(Payment)
        .values(
            id=new_id("pay"),
            network=transfer.network,
            txid=transfer.txid,
            output_index=transfer.index,
            address_id=address.id,
            address=address.address,
            purpose=address.purpose,
            owner_id=address.owner_id,
            from_address=transfer.from_address,
            asset=transfer.asset,
            amount=transfer.amount.amount,
            status=_initial(transfer),
            required_confirmations=required_confirmations,
            **_block_values(block),
        )
        .on_conflict_do_nothing(index_elements=["network", "txid", "output_index"])
        .returning(Payment)
    )
    if payment is not None:
        log.info(
            "chains.payment_recorded",
            payment_id=payment.id,
            network=payment.network,
            txid=payment.txid,
            index=payment.output_index,
            status=payment.status,
            in_block=block is not None,
        )
        await claims.notify(session, payment, None)
        return payment
    found = await session.scalar(
        select(Payment)
        .where(
            Payment.network == transfer.network,
            Payment.txid == transfer.txid,
            Payment.output_index == transfer.index,
        )
        .execution_options(populate_existing=True)
    )
    if found is None:  # the insert conflicted with it, so it exists
        raise InvariantBroken(f"Payment {transfer.txid}:{transfer.index} is not visible.")
    return await _sighted_again(session, found, transfer)


async def _sighted_again(
    session: AsyncSession, payment: Payment, transfer: Transfer
) -> Payment | None:
    block = transfer.block
    status = payment.state
    if block is None:
        if status in (PaymentStatus.replaced, PaymentStatus.reorged):
            # Back in the mempool: a reorged block's transaction, or a replacement undone.
            await transition(session, payment, PaymentStatus.seen, **_block_values(None))
            return payment
        return None  # seen, or already in a block (the block view wins over the mempool's)
    if payment.block_hash == block.hash:
        return None
    if status is PaymentStatus.seen and payment.block_hash is None:
        # Mined: the same `seen`, now with a block to count confirmations from.
        await session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == status)
            .values(**_block_values(block))
        )
        await session.refresh(payment)
        return payment
    if status in IN_BLOCK:
        # Recorded in another block that a reorg took away under us: unwind it first.
        await orphan(session, payment)
    await transition(session, payment, _initial(transfer), **_block_values(block))
    return payment
