"""P2P transfers: find the recipient by email or phone, then pay them in the ledger at once.

    preview(session, runtime, sender_id, query) -> TransferPreview   checks only, rate limited
    send(session, runtime, sender_id, body, ip) -> Transfer
    get(session, user_id, transfer_id) / to_wire(row, viewer_id)

Invariants: the recipient is an active user who has verified their email and phone, and is
not the sender; a phone number must name exactly one such user (phones are not unique, so an
ambiguous one asks for the email); the transfer row, the limit usage, the ledger journal
(`transfer:<id>`), the events for both people and the audit line commit together or not at
all.
"""

from __future__ import annotations

from pydantic_core import PydanticCustomError
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth import ratelimit
from backend.errors import InvalidRequest, NotFound
from backend.events import service as events
from backend.runtime import Runtime
from backend.transfers.models import Transfer
from backend.users.models import User
from backend.wallets import service as wallets
from contract.ids import new_id
from contract.kyc import KycTier
from contract.money import Asset, Money
from contract.users import Role, normalise_email, normalise_kenyan_mobile
from contract.wallets import Transfer as TransferOut
from contract.wallets import (
    TransferDirection,
    TransferPreview,
    TransferPreviewQuery,
    TransferRequest,
)


class RecipientNotFound(NotFound):
    code = "recipient_not_found"
    message = "No Qpeapay account has that email or phone number."


class RecipientNotVerified(InvalidRequest):
    code = "recipient_not_verified"
    message = "That person has not verified their account yet, so they cannot receive money."


class RecipientAmbiguous(InvalidRequest):
    code = "recipient_ambiguous"
    message = "Several accounts use that phone number: send to their email instead."


class SendToSelf(InvalidRequest):
    code = "send_to_self"
    message = "That is your own account: send to someone else's email or phone number."


class RecipientInvalid(InvalidRequest):
    code = "recipient_invalid"
    message = "Enter the recipient's email address or Kenyan mobile number."


class TransferNotFound(NotFound):
    code, message = "transfer_not_found", "No such transfer."


def _parse(to: str) -> tuple[str, str]:
    """("email" | "phone", normalised value) of what the sender typed."""
    try:
        if "@" in to:
            return "email", normalise_email(to)
        return "phone", normalise_kenyan_mobile(to)
    except PydanticCustomError:
        raise RecipientInvalid(param="to") from None


async def find_recipient(session: AsyncSession, sender_id: str, to: str) -> User:
    kind, value = _parse(to)
    column = User.email if kind == "email" else User.phone
    candidates = list(
        await session.scalars(
            select(User).where(column == value, User.role != Role.admin, User.disabled_at.is_(None))
        )
    )
    if kind == "phone" and len(candidates) > 1:
        # Only someone who proved the number owns it; several who did is a question for
        # a person, not a guess.
        verified = [user for user in candidates if user.phone_verified_at is not None]
        if len(verified) > 1:
            raise RecipientAmbiguous(param="to")
        candidates = verified or candidates[:1]
    if not candidates:
        raise RecipientNotFound(param="to")
    recipient = candidates[0]
    if recipient.id == sender_id:
        raise SendToSelf(param="to")
    if recipient.kyc_tier is KycTier.tier_0:
        raise RecipientNotVerified(param="to")
    return recipient


async def preview(
    session: AsyncSession, runtime: Runtime, sender_id: str, query: TransferPreviewQuery
) -> TransferPreview:
    """What `send` would refuse (verification, recipient, balance, limits), checked without
    moving or counting anything. Each call counts against the sender's lookup rate limit,
    so the preview cannot be used to test a list of emails or phone numbers."""
    await ratelimit.limiter(runtime).hit(
        runtime.settings.rate_limit_recipient_lookup, "recipient-lookup", sender_id
    )
    await wallets.may_send(session, sender_id)
    await find_recipient(session, sender_id, query.to)
    amount = Money(amount=query.amount, asset=query.asset)
    balance = (await wallets.balances(session, sender_id))[query.asset]
    available = Money(amount=balance.available, asset=query.asset)
    if amount > available:
        raise wallets.InsufficientBalance(available, amount)
    await wallets.check_limits(session, runtime, sender_id, amount)
    return TransferPreview(
        to=_parse(query.to)[1],
        asset=query.asset,
        amount=amount,
        fee=Money.zero(query.asset),
        total=amount,
        available=available,
    )


async def send(
    session: AsyncSession, runtime: Runtime, sender_id: str, body: TransferRequest, ip: str
) -> Transfer:
    sender = await wallets.may_send(session, sender_id)
    recipient = await find_recipient(session, sender_id, body.to)
    amount = Money(amount=body.amount, asset=body.asset)
    transfer_id = new_id("tr")
    await wallets.count_against_limits(session, runtime, sender_id, amount, transfer_id)
    row = Transfer(
        id=transfer_id,
        sender_id=sender_id,
        recipient_id=recipient.id,
        asset=body.asset,
        amount=body.amount,
        note=body.note,
        recipient_label=body.to.strip(),
    )
    session.add(row)
    await session.flush()
    await wallets.pay(
        session,
        sender_id,
        recipient.id,
        amount,
        f"transfer:{row.id}",
        memo=f"transfer {row.id}",
        reference=row.id,
    )
    data = {"id": row.id, "asset": row.asset, "amount": format(amount.amount, "f")}
    await events.emit(session, "transfer.sent", row.id, data, owner_id=sender_id)
    await events.emit(session, "transfer.received", row.id, data, owner_id=recipient.id)
    await audit.record(
        session,
        "transfer.sent",
        actor_user_id=sender.id,
        subject_user_id=recipient.id,
        subject_id=row.id,
        ip=ip,
        asset=row.asset,
        amount=format(amount.amount, "f"),
    )
    await session.refresh(row)
    return row


async def get(session: AsyncSession, user_id: str, transfer_id: str) -> Transfer:
    row = await session.scalar(
        select(Transfer).where(
            Transfer.id == transfer_id,
            or_(Transfer.sender_id == user_id, Transfer.recipient_id == user_id),
        )
    )
    if row is None:
        raise TransferNotFound(param="transfer_id")
    return row


async def emails(session: AsyncSession, user_ids: set[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
    return {user_id: email for user_id, email in rows}


def to_wire(row: Transfer, viewer_id: str, counterparty_email: str) -> TransferOut:
    sent = row.sender_id == viewer_id
    return TransferOut(
        id=row.id,
        direction=TransferDirection.sent if sent else TransferDirection.received,
        counterparty=counterparty_email,
        asset=Asset(row.asset),
        amount=Money(amount=row.amount, asset=Asset(row.asset)),
        note=row.note,
        created_at=row.created_at,
    )
