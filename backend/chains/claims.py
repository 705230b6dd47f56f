"""Who acts on a payment: one claim per address purpose, registered by the domain that owns it.

The watcher records payments and moves their status; what a status means for money (a
wallet credit, an invoice turning paid) belongs to the purpose's claim. A claim runs in
the watcher's transaction, right after the change it is told about, so its ledger posts
and events commit or roll back with it. A claim may be told the same change once more
after a crash between its work and the commit (the whole transaction is then redone), so
it must do its work idempotently (ledger keys, compare-and-set updates).

Wallet deposits register in backend.chains.deposits. A later domain (invoices) calls
`register(AddressPurpose.invoice, on_invoice_payment)` when its module is imported and
nothing in the watcher changes. Payments to an address with no claim (the hot wallet
receiving a sweep) are recorded and followed, and nothing else happens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from backend.chains.models import Payment
from backend.keys.models import AddressPurpose
from contract.deposits import PaymentStatus

# (session, the payment as it is now, its status before the change — None when just
# recorded). The payment row is current: `status`, block fields and `credited` included.
Claim = Callable[[AsyncSession, Payment, PaymentStatus | None], Awaitable[None]]

_CLAIMS: dict[AddressPurpose, Claim] = {}


def register(purpose: AddressPurpose, claim: Claim) -> None:
    """Make `claim` the one that hears about payments to addresses of `purpose`."""
    existing = _CLAIMS.get(purpose)
    if existing is not None and existing is not claim:
        raise ValueError(f"payments to {purpose} addresses are already claimed by {existing!r}")
    _CLAIMS[purpose] = claim


def claim_for(purpose: str) -> Claim | None:
    try:
        return _CLAIMS.get(AddressPurpose(purpose))
    except ValueError:
        return None


async def notify(session: AsyncSession, payment: Payment, previous: PaymentStatus | None) -> None:
    """Tell the payment's claim (if its purpose has one) what just changed."""
    claim = claim_for(payment.purpose)
    if claim is not None:
        await claim(session, payment, previous)
