"""Wallet balances read from the ledger, persistent deposit addresses and their QR codes, and
the funds checks every way out of a wallet (withdrawals, transfers) shares.

Invariants: balances come only from the ledger's owned accounts (available, pending, held);
a user has one deposit address per network, allocated through the keys module the first
time it is asked for (serialised per user and network, so two racing first calls still
hand out one) and the same one ever after.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

import segno
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Conflict, Forbidden
from backend.keys import service as keys
from backend.keys.models import AddressPurpose, ChainAddress
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from backend.limits import service as limits
from backend.rates import service as rates
from backend.runtime import Runtime
from backend.settings import Settings
from backend.users import service as users
from backend.users.models import User
from contract.kyc import KycTier
from contract.limits import LimitAction
from contract.money import Asset, Money, Network, Rounding, quantum
from contract.wallets import WALLET_NETWORKS


class InsufficientBalance(Conflict):
    code = "insufficient_funds"

    def __init__(self, available: Money, needed: Money) -> None:
        super().__init__(
            f"Your available {available.asset} balance is {available.amount:f}; "
            f"this needs {needed.amount:f}.",
            param="amount",
        )


class VerificationRequired(Forbidden):
    code = "verification_required"
    message = "Verify your email and phone number before sending money."


@dataclass(frozen=True)
class Balance:
    asset: Asset
    available: Decimal
    pending: Decimal
    held: Decimal


async def balances(session: AsyncSession, user_id: str) -> dict[Asset, Balance]:
    """Every wallet asset's balances for `user_id`, zero where no account exists yet."""
    found: dict[tuple[Asset, Purpose], Decimal] = {
        (Asset(account.asset), Purpose(account.purpose)): account.balance
        for account in await ledger.accounts_of(session, user_id)
    }

    def amount(asset: Asset, purpose: Purpose) -> Decimal:
        return found.get((asset, purpose), Decimal(0)).quantize(quantum(asset))

    return {
        asset: Balance(
            asset,
            available=amount(asset, Purpose.available),
            pending=amount(asset, Purpose.pending),
            held=amount(asset, Purpose.held),
        )
        for asset in WALLET_NETWORKS
    }


async def may_send(session: AsyncSession, user_id: str) -> User:
    """The sender, if they may move money out at all (tier 0 may not: say so plainly
    rather than as a limit of KES 0)."""
    user = await users.get(session, user_id)
    if user.kyc_tier is KycTier.tier_0:
        raise VerificationRequired()
    return user


async def count_against_limits(
    session: AsyncSession, runtime: Runtime, user_id: str, amount: Money, reference: str
) -> None:
    """Count money leaving a wallet (on chain or to another user) against the user's send
    limits, at its KES value now; 403 limit_exceeded when it does not fit."""
    value = await rates.kes_value(runtime, amount, Rounding.customer_pays)
    await limits.record(session, runtime.settings, user_id, LimitAction.withdraw, value, reference)


async def check_limits(
    session: AsyncSession, runtime: Runtime, user_id: str, amount: Money
) -> None:
    """What `count_against_limits` would refuse, without counting or locking anything
    (previews)."""
    value = await rates.kes_value(runtime, amount, Rounding.customer_pays)
    await limits.check(session, runtime.settings, user_id, LimitAction.withdraw, value)


async def _spend(
    session: AsyncSession,
    user_id: str,
    destination_id: str,
    amount: Money,
    key: str,
    *,
    memo: str,
    reference: str,
) -> None:
    """Move `amount` out of the user's available balance, once per `key`; refuses with a
    plain-words InsufficientBalance (409) rather than the ledger's account ids."""
    available = await ledger.open_account(session, user_id, amount.asset)
    try:
        await ledger.post(
            session,
            key,
            ledger.transfer(available.id, destination_id, amount),
            memo=memo,
            reference=reference,
        )
    except ledger.InsufficientFunds as exc:
        raise InsufficientBalance(exc.balance, amount) from None


async def hold(session: AsyncSession, user_id: str, total: Money, key: str, reference: str) -> None:
    """Reserve `total` of the user's available balance (available → held) for `reference`."""
    held = await ledger.open_account(session, user_id, total.asset, Purpose.held)
    await _spend(
        session, user_id, held.id, total, key, memo=f"hold {total} for {reference}",
        reference=reference,
    )  # fmt: skip  # the arguments kept on two lines, not one per line


async def pay(
    session: AsyncSession,
    sender_id: str,
    recipient_id: str,
    amount: Money,
    key: str,
    *,
    memo: str,
    reference: str,
) -> None:
    """Move `amount` from one user's available balance to another's."""
    destination = await ledger.open_account(session, recipient_id, amount.asset)
    await _spend(session, sender_id, destination.id, amount, key, memo=memo, reference=reference)


# ------------------------------------------------------------------------ deposit addresses


async def deposit_address(
    session: AsyncSession, settings: Settings, user_id: str, network: Network
) -> ChainAddress:
    """The user's deposit address on `network`, allocated on first use."""
    # Without this lock two first requests would each allocate (the keys module never
    # hands one address out twice, but a user should have exactly one per network).
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"deposit:{user_id}:{network}", 0)))
    )
    mine = await keys.owned_by(session, user_id, network, AddressPurpose.deposit)
    if mine:
        return mine[0]
    row = await keys.allocate(session, settings, network, AddressPurpose.deposit, user_id)
    await session.refresh(row)  # created_at comes from the database
    return row


def payment_uri(network: Network, address: str) -> str | None:
    """BIP-21 for Bitcoin. Ethereum and Tron wallets expect the bare address: EIP-681 token
    URIs are not read alike by the wallets people use, and Tron has no standard."""
    if network is Network.bitcoin:
        return f"bitcoin:{address}"
    return None


def qr_svg(data: str, title: str) -> str:
    """A standalone SVG QR code (medium error correction, sized by its viewBox, with the
    SVG namespace so it is also a valid file on its own)."""
    out = io.BytesIO()
    segno.make(data, error="m").save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        scale=1,
        border=2,
        omitsize=True,
        svgclass="qr",
        lineclass=None,
        dark="#0f172a",
        title=title,
    )
    return out.getvalue().decode()
