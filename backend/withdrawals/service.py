"""Withdrawals: price, request (hold the funds or settle internally), read, and the one
`transition` with what each final status does to the ledger.

    preview(session, runtime, user_id, query)           fees and total (or the most that
                                                        can be sent), checked, nothing held
    request(session, runtime, user_id, body, ip)        the withdrawal, funds held
    transition(session, row, to, **values)              compare-and-set + event
    confirm(session, row, **values) / fail(session, row, code, message, **values)

Invariants: the withdrawal row, the limit usage, the ledger hold (available → held, key
`withdrawal:<id>:hold`) and the audit line are written in one transaction, so a refused
hold leaves nothing behind; a confirmed withdrawal settles held → hot wallet + fees once
(`…:settle`), a failed one returns the hold to available once (`…:release`) and stops
counting against limits; both happen in the transaction that changes the status, and the
status machine lets only one of them happen. A withdrawal to another customer's deposit
address never touches a chain: it pays them in the ledger (`…:internal`) with no fee and is
confirmed in the request's own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import machine, queue
from backend.audit import service as audit
from backend.errors import Conflict, InvalidRequest, NotFound
from backend.events import service as events
from backend.fees import service as fees
from backend.keys import service as keys
from backend.keys.models import AddressPurpose
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.limits import service as limits
from backend.runtime import Runtime
from backend.wallets import addresses
from backend.wallets import service as wallets
from backend.withdrawals.models import ALLOWED, OPEN, Withdrawal
from contract.ids import new_id
from contract.money import Asset, Money, Network
from contract.quotes import FeeKind, FeeLine
from contract.wallets import Withdrawal as WithdrawalOut
from contract.wallets import (
    WithdrawalPreview,
    WithdrawalPreviewQuery,
    WithdrawalRequest,
    WithdrawalStatus,
)

ADVANCE_JOB = "withdrawals.advance"


class OwnAddress(InvalidRequest):
    code = "own_address"
    message = "This is your own deposit address: the coins are already in your wallet."


class AddressNotAllowed(InvalidRequest):
    code = "address_not_allowed"
    message = "This address belongs to Qpeapay's treasury and cannot receive withdrawals."


class NothingToSend(Conflict):
    code = "insufficient_funds"

    def __init__(self, available: Money) -> None:
        super().__init__(
            f"Your available {available.asset} balance ({available.amount:f}) does not "
            "cover the fees of a withdrawal.",
            param="amount",
        )


class FeeChanged(Conflict):
    code = "fee_changed"


class WithdrawalNotFound(NotFound):
    code, message = "withdrawal_not_found", "No such withdrawal."


@dataclass(frozen=True)
class Priced:
    asset: Asset
    network: Network
    address: str
    recipient_id: str | None  # set when the address is another customer's deposit address
    amount: Money
    fees: list[FeeLine]

    @property
    def internal(self) -> bool:
        return self.recipient_id is not None

    @property
    def fee(self) -> Money:
        return sum((line.amount for line in self.fees), Money.zero(self.asset))

    @property
    def total(self) -> Money:
        return self.amount + self.fee

    def fee_of(self, kind: FeeKind) -> FeeLine | None:
        return next((line for line in self.fees if line.kind is kind), None)


async def _destination(
    session: AsyncSession, runtime: Runtime, user_id: str, network: Network, address: str
) -> tuple[str, str | None]:
    """(canonical address, the customer it belongs to when it is another one's deposit
    address); refuses the sender's own address and the treasury's."""
    destination = addresses.canonical(network, address, runtime.settings)
    ours = (await keys.by_addresses(session, network, [destination])).get(destination)
    if ours is not None and ours.purpose == AddressPurpose.hot_wallet:
        raise AddressNotAllowed(param="address")
    if ours is not None and ours.purpose == AddressPurpose.deposit:
        if ours.owner_id == user_id:
            raise OwnAddress(param="address")
        return destination, ours.owner_id
    return destination, None


async def _fees(
    runtime: Runtime, recipient_id: str | None, amount: Money, network: Network
) -> list[FeeLine]:
    # An internal withdrawal moves no coins, so there is nothing to pay for.
    return [] if recipient_id is not None else await fees.withdrawal(runtime, amount, network)


async def price(
    session: AsyncSession,
    runtime: Runtime,
    user_id: str,
    asset: Asset,
    network: Network,
    address: str,
    amount: Decimal,
) -> Priced:
    """Where the withdrawal goes (checked, canonical, ours or not) and what it costs."""
    destination, recipient_id = await _destination(session, runtime, user_id, network, address)
    money = Money(amount=amount, asset=asset)
    lines = await _fees(runtime, recipient_id, money, network)
    return Priced(asset, network, destination, recipient_id, money, lines)


async def _most(
    runtime: Runtime, recipient_id: str | None, available: Money, network: Network
) -> Money:
    """The largest amount whose total (fees included) fits in `available`. Fees never fall
    as the amount grows, so `available` less the fee on all of it always fits; one more
    step takes back what that over-counted when it still fits."""

    async def fee(amount: Money) -> Money:
        lines = await _fees(runtime, recipient_id, amount, network)
        return sum((line.amount for line in lines), Money.zero(available.asset))

    first = available - await fee(available)
    if not first.amount > 0:
        raise NothingToSend(available)
    closer = available - await fee(first)
    return closer if closer + await fee(closer) <= available else first


async def preview(
    session: AsyncSession, runtime: Runtime, user_id: str, query: WithdrawalPreviewQuery
) -> WithdrawalPreview:
    """What the withdrawal would cost, refused as `request` would refuse it (verification,
    address, balance, limits) without holding or counting anything."""
    await wallets.may_send(session, user_id)
    destination, recipient_id = (None, None)
    if query.address is not None:
        destination, recipient_id = await _destination(
            session, runtime, user_id, query.network, query.address
        )
    balance = (await wallets.balances(session, user_id))[query.asset]
    available = Money(amount=balance.available, asset=query.asset)
    if query.amount is None:
        amount = await _most(runtime, recipient_id, available, query.network)
    else:
        amount = Money(amount=query.amount, asset=query.asset)
    lines = await _fees(runtime, recipient_id, amount, query.network)
    fee = sum((line.amount for line in lines), Money.zero(query.asset))
    if amount + fee > available:
        raise wallets.InsufficientBalance(available, amount + fee)
    await wallets.check_limits(session, runtime, user_id, amount)
    return WithdrawalPreview(
        asset=query.asset,
        network=query.network,
        address=destination,
        internal=recipient_id is not None,
        amount=amount,
        fees=lines,
        fee=fee,
        total=amount + fee,
        available=available,
    )


async def request(
    session: AsyncSession, runtime: Runtime, user_id: str, body: WithdrawalRequest, ip: str
) -> Withdrawal:
    await wallets.may_send(session, user_id)
    priced = await price(
        session, runtime, user_id, body.asset, body.network, body.address, body.amount
    )
    if body.max_fee is not None and priced.fee.amount > body.max_fee:
        raise FeeChanged(
            f"The fee is now {priced.fee.amount:f} {priced.asset}, more than the "
            f"{body.max_fee:f} you agreed to; review it and send again.",
            param="max_fee",
        )
    withdrawal_id = new_id("wd")
    await wallets.count_against_limits(session, runtime, user_id, priced.amount, withdrawal_id)
    network_fee, platform_fee = priced.fee_of(FeeKind.network), priced.fee_of(FeeKind.platform)
    row = Withdrawal(
        id=withdrawal_id,
        user_id=user_id,
        asset=priced.asset,
        network=priced.network,
        address=priced.address,
        amount=priced.amount.amount,
        network_fee=network_fee.amount.amount if network_fee else Decimal(0),
        platform_fee=platform_fee.amount.amount if platform_fee else Decimal(0),
        network_fee_text=network_fee.description if network_fee else "",
        platform_fee_text=platform_fee.description if platform_fee else "",
        total=priced.total.amount,
        internal=priced.internal,
        recipient_id=priced.recipient_id,
        status=WithdrawalStatus.requested,
    )
    session.add(row)
    await session.flush()
    await events.emit(session, "withdrawal.requested", row.id, _event_data(row), owner_id=user_id)
    await audit.record(
        session,
        "withdrawal.requested",
        actor_user_id=user_id,
        subject_user_id=priced.recipient_id,
        subject_id=row.id,
        ip=ip,
        asset=row.asset,
        network=row.network,
        amount=format(priced.amount.amount, "f"),
        total=format(priced.total.amount, "f"),
        internal=row.internal,
    )
    if priced.recipient_id is not None:
        await wallets.pay(
            session,
            user_id,
            priced.recipient_id,
            priced.amount,
            f"withdrawal:{row.id}:internal",
            memo=f"internal withdrawal {row.id} to {row.address}",
            reference=row.id,
        )
        row = await transition(session, row, WithdrawalStatus.confirmed)
        await events.emit(
            session,
            "withdrawal.received",
            row.id,
            _event_data(row),
            owner_id=priced.recipient_id,
        )
        return row
    await wallets.hold(session, user_id, priced.total, f"withdrawal:{row.id}:hold", row.id)
    queue.enqueue_after_commit(session, ADVANCE_JOB, row.id)
    return row


async def get(session: AsyncSession, user_id: str, withdrawal_id: str) -> Withdrawal:
    row = await session.get(Withdrawal, withdrawal_id, populate_existing=True)
    if row is None or row.user_id != user_id:
        raise WithdrawalNotFound(param="withdrawal_id")
    return row


def _event_data(row: Withdrawal) -> dict[str, Any]:
    return {
        "asset": row.asset,
        "network": row.network,
        "amount": format(row.amount, "f"),
        "address": row.address,
        "internal": row.internal,
        "txid": row.txid,
    }


async def transition(
    session: AsyncSession, row: Withdrawal, to: WithdrawalStatus, **values: Any
) -> Withdrawal:
    moved = await machine.transition(
        session,
        Withdrawal,
        row.id,
        ALLOWED,
        to,
        event=f"withdrawal.{to}",
        owner_id=row.user_id,
        values=values,
        data=_event_data(row) | {k: v for k, v in values.items() if k == "txid"},
    )
    return moved


def _fee_lines(row: Withdrawal) -> list[FeeLine]:
    asset = Asset(row.asset)
    lines = [
        (FeeKind.network, row.network_fee, row.network_fee_text),
        (FeeKind.platform, row.platform_fee, row.platform_fee_text),
    ]
    return [
        FeeLine(kind=kind, amount=Money(amount=amount, asset=asset), description=text)
        for kind, amount, text in lines
        if amount or text
    ]


async def confirm(session: AsyncSession, row: Withdrawal, **values: Any) -> Withdrawal:
    """The coins arrived: held → hot wallet (the amount) and the fee account (the fees)."""
    moved = await transition(session, row, WithdrawalStatus.confirmed, **values)
    asset, network = Asset(row.asset), Network(row.network)
    held = await ledger.open_account(session, row.user_id, asset, Purpose.held)
    hot = await ledger.system_account(session, Purpose.hot_wallet, asset, network)
    amount = Money(amount=row.amount, asset=asset)
    await ledger.post(
        session,
        f"withdrawal:{row.id}:settle",
        fees.net_postings(
            ledger.transfer(held.id, hot.id, amount),
            await fees.fee_postings(session, _fee_lines(row), held.id),
        ),
        memo=f"withdrawal {row.id} of {amount} to {row.address}",
        reference=row.id,
    )
    return moved


async def fail(
    session: AsyncSession, row: Withdrawal, code: str, message: str, **values: Any
) -> Withdrawal:
    """It did not happen: the hold goes back to available and stops counting as sent."""
    moved = await transition(
        session,
        row,
        WithdrawalStatus.failed,
        failure_code=code,
        failure_message=message,
        **values,
    )
    asset = Asset(row.asset)
    available = await ledger.open_account(session, row.user_id, asset)
    held = await ledger.open_account(session, row.user_id, asset, Purpose.held)
    await ledger.post(
        session,
        f"withdrawal:{row.id}:release",
        ledger.transfer(held.id, available.id, Money(amount=row.total, asset=asset)),
        memo=f"withdrawal {row.id} failed: {code}",
        reference=row.id,
    )
    await limits.release(session, row.id)
    return moved


def to_wire(row: Withdrawal) -> WithdrawalOut:
    asset = Asset(row.asset)
    lines = _fee_lines(row)
    fee = Money(amount=row.network_fee + row.platform_fee, asset=asset)
    return WithdrawalOut(
        id=row.id,
        status=WithdrawalStatus(row.status),
        asset=asset,
        network=Network(row.network),
        address=row.address,
        internal=row.internal,
        amount=Money(amount=row.amount, asset=asset),
        fees=lines,
        fee=fee,
        total=Money(amount=row.total, asset=asset),
        txid=row.txid,
        confirmations=row.confirmations,
        failure_code=row.failure_code,
        failure_message=row.failure_message,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def open_ids(session: AsyncSession, limit: int = 200) -> list[str]:
    """On-chain withdrawals still moving, least recently touched first (for the poller)."""
    rows = await session.scalars(
        select(Withdrawal.id)
        .where(Withdrawal.status.in_(list(OPEN)))
        .order_by(Withdrawal.updated_at)
        .limit(limit)
    )
    return list(rows)
