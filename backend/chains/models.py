"""Tables of chain watching: payments to our addresses, and each network's scan cursor.

Invariants: a payment is unique on (network, txid, output_index) and changes status only
along ALLOWED (service.transition, a compare-and-set); it carries the block it was seen in
(both height and hash, or neither while in the mempool); `credited` is true only while the
payment is confirmed (kept by the claims rather than a CHECK: within one transaction a
reorged payment is still credited until its claim reverses the credit). A cursor's
(height, hash) names the last block whose transfers are all recorded; checkpoints keep
recent (height, hash) pairs to find a fork point.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped, one_of
from contract.deposits import PaymentStatus
from contract.money import Asset, Money, Network

# A block that leaves the chain takes its payments with it; one that is re-mined (or
# mined after all, for a replaced one) brings them back to `seen`.
ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.seen: frozenset(
        {PaymentStatus.confirmed, PaymentStatus.replaced, PaymentStatus.reorged}
    ),
    PaymentStatus.confirmed: frozenset({PaymentStatus.reorged}),
    PaymentStatus.failed: frozenset({PaymentStatus.reorged}),
    PaymentStatus.replaced: frozenset({PaymentStatus.seen, PaymentStatus.failed}),
    PaymentStatus.reorged: frozenset({PaymentStatus.seen, PaymentStatus.failed}),
}
# Statuses whose block the watcher keeps checking against the chain.
IN_BLOCK: frozenset[PaymentStatus] = frozenset(
    {PaymentStatus.seen, PaymentStatus.confirmed, PaymentStatus.failed}
)


class Payment(Timestamped, Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("network", "txid", "output_index", name="uq_payments_network_txid_index"),
        CheckConstraint(one_of("status", PaymentStatus), name="status_known"),
        CheckConstraint(one_of("network", Network), name="network_known"),
        CheckConstraint(one_of("asset", Asset), name="asset_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("output_index >= 0", name="output_index_non_negative"),
        CheckConstraint("(block_height IS NULL) = (block_hash IS NULL)", name="block_whole"),
        CheckConstraint("confirmations >= 0", name="confirmations_non_negative"),
        CheckConstraint("required_confirmations >= 1", name="required_confirmations_positive"),
        CheckConstraint("credit_count >= 0", name="credit_count_non_negative"),
        CheckConstraint(
            f"status <> '{PaymentStatus.failed}' OR block_height IS NOT NULL",
            name="failed_in_block",
        ),
        # A customer's history, newest first.
        Index("ix_payments_owner_id_created_at", "owner_id", "created_at", "id"),
        # What every tick reads: the network's payments still moving.
        Index(
            "ix_payments_network_open",
            "network",
            "status",
            postgresql_where=text(f"status = '{PaymentStatus.seen}'"),
        ),
        # What a reorg reads: payments in blocks above the fork point.
        Index("ix_payments_network_block_height", "network", "block_height"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    network: Mapped[str] = mapped_column(String(16))
    txid: Mapped[str] = mapped_column(String(80))
    # BTC: the output number (vout); ERC-20 / TRC-20: the log index.
    output_index: Mapped[int] = mapped_column(Integer)
    address_id: Mapped[str] = mapped_column(String(32), ForeignKey("chain_addresses.id"))
    address: Mapped[str] = mapped_column(String(128))
    # Copied from the address when first seen: who may claim it and whose it is.
    purpose: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    from_address: Mapped[str | None] = mapped_column(String(128))
    asset: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal] = mapped_column(Numeric())
    status: Mapped[str] = mapped_column(String(16))
    block_height: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(80))
    # Kept current while `seen`; readers count confirmed ones from the cursor.
    confirmations: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The network's threshold when first seen: what "confirmed" took for this payment.
    required_confirmations: Mapped[int] = mapped_column(Integer)
    # How many credits were ever posted (each reorg's reversal lets a later one post anew:
    # the ledger keys carry this number) and whether one stands now.
    credit_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    credited: Mapped[bool] = mapped_column(default=False, server_default=false())
    confirmed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    def money(self) -> Money:
        return Money(amount=self.amount, asset=Asset(self.asset))

    @property
    def state(self) -> PaymentStatus:
        return PaymentStatus(self.status)


class ChainCursor(Base):
    """Where a network's watcher is: the last fully scanned block and how its ticks go."""

    __tablename__ = "chain_cursors"
    __table_args__ = (
        CheckConstraint(one_of("network", Network), name="network_known"),
        CheckConstraint("height >= 0", name="height_non_negative"),
    )

    network: Mapped[str] = mapped_column(String(16), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(80))
    # The node's tip at the last successful tick (the cursor trails it while catching up).
    tip_height: Mapped[int] = mapped_column(BigInteger)
    ticked_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set while ticks fail (the node is down or erring); cleared by the next good tick.
    failing_since: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class ChainCheckpoint(Base):
    """A recent block the watcher scanned past: where a walk back after a reorg can stop."""

    __tablename__ = "chain_checkpoints"

    network: Mapped[str] = mapped_column(String(16), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(80))


__all__ = ["ALLOWED", "IN_BLOCK", "ChainCheckpoint", "ChainCursor", "Payment"]
