"""Who acts on a payment: every address purpose and its claim, declared in one table.

The watcher records payments and moves their status; what a status means for money (a
wallet credit, an invoice turning paid) belongs to the purpose's claim. A claim runs in
the watcher's transaction, right after the change it is told about, so its ledger posts
and events commit or roll back with it. A claim may be told the same change once more
after a crash between its work and the commit (the whole transaction is then redone), so
it must do its work idempotently (ledger keys, compare-and-set updates).

CLAIMS names a claim (or None) for every AddressPurpose, the way backend/routes.py lists
the endpoints: a domain that takes payments (invoices) writes its claim in its own module
and puts it in the table; nothing in the watcher changes. Payments to an address whose
purpose has no claim (the hot wallet receiving a sweep) are recorded and followed, and
nothing else happens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from backend.chains import deposits
from backend.chains.models import Payment
from backend.keys.models import AddressPurpose
from contract.deposits import PaymentStatus

# (session, the payment as it is now, its status before the change — None when just
# recorded). The payment row is current: `status`, block fields and `credited` included.
Claim = Callable[[AsyncSession, Payment, PaymentStatus | None], Awaitable[None]]

# One entry per purpose (a test checks that every purpose is here; ruff's F601 refuses a
# purpose written twice).
CLAIMS: Mapping[AddressPurpose, Claim | None] = {
    AddressPurpose.deposit: deposits.on_payment,  # credits the customer's wallet
    AddressPurpose.invoice: None,  # no invoices are issued yet: recorded and followed
    AddressPurpose.hot_wallet: None,  # our own sweeps arriving: recorded and followed
}


def claim_for(purpose: str) -> Claim | None:
    try:
        return CLAIMS.get(AddressPurpose(purpose))
    except ValueError:
        return None


async def notify(session: AsyncSession, payment: Payment, previous: PaymentStatus | None) -> None:
    """Tell the payment's claim (if its purpose has one) what just changed."""
    claim = claim_for(payment.purpose)
    if claim is not None:
        await claim(session, payment, previous)
