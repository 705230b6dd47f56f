"""The withdrawals table: crypto leaving a customer's wallet, to an address on a network.

Invariants (DB CHECKs): the status is one of `requested → signed → broadcast → confirmed`,
or `failed`, moved only along ALLOWED by one compare-and-set; `total` is exactly amount plus
fees and is what was held; an internal withdrawal (to another customer's deposit address)
pays no network fee, names its recipient, never carries a txid and is confirmed at once; an
on-chain one past `requested` carries the txid of the transaction we signed; a failed one
says why.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Numeric, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped, one_of
from contract.money import Asset, Network
from contract.wallets import WithdrawalStatus

ALLOWED: dict[WithdrawalStatus, frozenset[WithdrawalStatus]] = {
    WithdrawalStatus.requested: frozenset(
        {WithdrawalStatus.signed, WithdrawalStatus.confirmed, WithdrawalStatus.failed}
    ),
    WithdrawalStatus.signed: frozenset({WithdrawalStatus.broadcast, WithdrawalStatus.failed}),
    WithdrawalStatus.broadcast: frozenset({WithdrawalStatus.confirmed, WithdrawalStatus.failed}),
}
OPEN = frozenset({WithdrawalStatus.requested, WithdrawalStatus.signed, WithdrawalStatus.broadcast})
W = WithdrawalStatus  # in the CHECKs' SQL below


class Withdrawal(Timestamped, Base):
    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint(one_of("status", WithdrawalStatus), name="status_known"),
        CheckConstraint(one_of("asset", Asset), name="asset_known"),
        CheckConstraint(one_of("network", Network), name="network_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("network_fee >= 0 AND platform_fee >= 0", name="fees_not_negative"),
        CheckConstraint("total = amount + network_fee + platform_fee", name="total_adds_up"),
        CheckConstraint(
            "NOT internal OR (recipient_id IS NOT NULL AND network_fee = 0 AND txid IS NULL"
            f" AND status IN ('{W.requested}', '{W.confirmed}'))",
            name="internal_settles_in_ledger",
        ),
        CheckConstraint("internal OR recipient_id IS NULL", name="recipient_only_internal"),
        CheckConstraint(
            f"internal OR status IN ('{W.requested}', '{W.failed}') OR txid IS NOT NULL",
            name="sent_has_txid",
        ),
        CheckConstraint(
            f"(status = '{W.failed}') = (failure_code IS NOT NULL)", name="failed_says_why"
        ),
        Index("ix_withdrawals_user_id_created_at", "user_id", "created_at"),
        Index(
            "ix_withdrawals_recipient_id_created_at",
            "recipient_id",
            "created_at",
            postgresql_where=text("recipient_id IS NOT NULL"),
        ),
        Index(
            "ix_withdrawals_open",
            "updated_at",
            postgresql_where=text(f"status IN ('{W.requested}', '{W.signed}', '{W.broadcast}')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(8))
    network: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(128))
    amount: Mapped[Decimal] = mapped_column(Numeric())
    network_fee: Mapped[Decimal] = mapped_column(Numeric())
    platform_fee: Mapped[Decimal] = mapped_column(Numeric())
    total: Mapped[Decimal] = mapped_column(Numeric())
    # What the fee lines said when the customer agreed to them (shown back as they were).
    network_fee_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    platform_fee_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    internal: Mapped[bool]
    recipient_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    txid: Mapped[str | None] = mapped_column(String(128))
    outbound_id: Mapped[str | None] = mapped_column(String(32))
    confirmations: Mapped[int] = mapped_column(default=0, server_default="0")
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
