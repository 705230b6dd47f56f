"""The transfers table: instant payments between two Qpeapay users, settled in the ledger.

Invariants (DB CHECKs): a transfer moves a positive amount between two different users and
is complete when its row exists: the row and the ledger journal (key `transfer:<id>`) are
written in one transaction, so there is no status to go wrong.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped
from contract.wallets import WALLET_NETWORKS

_ASSETS = ", ".join(f"'{asset}'" for asset in sorted(WALLET_NETWORKS))


class Transfer(Timestamped, Base):
    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint(f"asset IN ({_ASSETS})", name="asset_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("sender_id <> recipient_id", name="not_to_self"),
        Index("ix_transfers_sender_id_created_at", "sender_id", "created_at"),
        Index("ix_transfers_recipient_id_created_at", "recipient_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal] = mapped_column(Numeric())
    note: Mapped[str | None] = mapped_column(String(140))
    # What the sender typed (an email or a phone), to show them their own words back.
    recipient_label: Mapped[str] = mapped_column(String(254))
