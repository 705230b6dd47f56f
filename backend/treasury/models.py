"""Tables of the treasury: every transaction we sign (outbound), and sweeps of deposit
addresses into the hot wallet.

Invariants (DB CHECKs and indexes): an outbound transaction is recorded, with its signed
bytes and txid, before it is broadcast, and only the same bytes are ever sent again; one
business step signs at most one transaction (unique on kind and reference), so a job run
twice finds the first; a sender never has two live transactions with one nonce; a final
transaction (confirmed or failed) carries the fee it actually paid, or none when it never
reached a block. A sweep moves along its ALLOWED edges and has at most one open sweep per
deposit address and asset.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Index, Numeric, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped, one_of
from contract.money import Asset, Network


class OutboundKind(StrEnum):
    withdrawal = "withdrawal"  # hot wallet → a customer's address
    gas_topup = "gas_topup"  # hot wallet → a deposit address, native coin for a sweep's fee
    sweep = "sweep"  # deposit address → hot wallet


class OutboundStatus(StrEnum):
    signed = "signed"  # bytes recorded, not yet accepted by a node
    broadcast = "broadcast"  # a node accepted them; waiting for confirmations
    confirmed = "confirmed"  # in a block, succeeded, deep enough
    failed = "failed"  # refused by the network, or in a block but reverted


OUTBOUND_ALLOWED: dict[OutboundStatus, frozenset[OutboundStatus]] = {
    OutboundStatus.signed: frozenset({OutboundStatus.broadcast, OutboundStatus.failed}),
    OutboundStatus.broadcast: frozenset({OutboundStatus.confirmed, OutboundStatus.failed}),
}
OUTBOUND_OPEN = frozenset({OutboundStatus.signed, OutboundStatus.broadcast})


class OutboundTx(Timestamped, Base):
    __tablename__ = "outbound_transactions"
    __table_args__ = (
        CheckConstraint(one_of("network", Network), name="network_known"),
        CheckConstraint(one_of("kind", OutboundKind), name="kind_known"),
        CheckConstraint(one_of("status", OutboundStatus), name="status_known"),
        CheckConstraint(one_of("asset", Asset), name="asset_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("nonce IS NULL OR nonce >= 0", name="nonce_not_negative"),
        CheckConstraint("fee IS NULL OR fee >= 0", name="fee_not_negative"),
        CheckConstraint("(fee IS NULL) = (fee_asset IS NULL)", name="fee_has_asset"),
        CheckConstraint(
            f"status <> '{OutboundStatus.confirmed}' OR fee IS NOT NULL", name="confirmed_has_fee"
        ),
        CheckConstraint("confirmations >= 0", name="confirmations_not_negative"),
        # One transaction per business step: a second sign attempt finds the first.
        Index("uq_outbound_transactions_kind_reference", "kind", "reference_id", unique=True),
        # A refused transaction never existed on chain: the same bytes may be signed again
        # (same nonce, amount and fees give the same signature, so the same txid).
        Index(
            "uq_outbound_transactions_network_txid",
            "network",
            "txid",
            unique=True,
            postgresql_where=text(f"status <> '{OutboundStatus.failed}'"),
        ),
        # A failed transaction gives its nonce back; a live one owns it.
        Index(
            "uq_outbound_transactions_live_nonce",
            "network",
            "sender",
            "nonce",
            unique=True,
            postgresql_where=text(f"nonce IS NOT NULL AND status <> '{OutboundStatus.failed}'"),
        ),
        Index(
            "ix_outbound_transactions_open",
            "network",
            "sender",
            postgresql_where=text(
                f"status IN ('{OutboundStatus.signed}', '{OutboundStatus.broadcast}')"
            ),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    network: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    # The withdrawal or sweep this transaction carries out.
    reference_id: Mapped[str] = mapped_column(String(32))
    sender: Mapped[str] = mapped_column(String(128))
    recipient: Mapped[str] = mapped_column(String(128))
    asset: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal] = mapped_column(Numeric())
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    txid: Mapped[str] = mapped_column(String(128))
    # What the network takes: 0x-hex (Ethereum, Bitcoin) or tronpy's JSON (Tron).
    raw: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OutboundStatus.signed)
    # The network fee actually paid, in the network's native coin, once known.
    fee: Mapped[Decimal | None] = mapped_column(Numeric())
    fee_asset: Mapped[str | None] = mapped_column(String(8))
    block_height: Mapped[int | None] = mapped_column(BigInteger)
    confirmations: Mapped[int] = mapped_column(default=0, server_default="0")
    # Why the last attempt to broadcast or track did not move it on (node words, for ops).
    last_error: Mapped[str | None] = mapped_column(Text)
    broadcast_at: Mapped[datetime | None]
    final_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class SweepStatus(StrEnum):
    topping_up = "topping_up"  # native coin sent to the deposit address to pay the fee
    sending = "sending"  # the sweep itself is signed / broadcast
    confirmed = "confirmed"
    failed = "failed"


SWEEP_ALLOWED: dict[SweepStatus, frozenset[SweepStatus]] = {
    SweepStatus.topping_up: frozenset({SweepStatus.sending, SweepStatus.failed}),
    SweepStatus.sending: frozenset({SweepStatus.confirmed, SweepStatus.failed}),
}
SWEEP_OPEN = frozenset({SweepStatus.topping_up, SweepStatus.sending})


class Sweep(Timestamped, Base):
    __tablename__ = "sweeps"
    __table_args__ = (
        CheckConstraint(one_of("network", Network), name="network_known"),
        CheckConstraint(one_of("status", SweepStatus), name="status_known"),
        CheckConstraint(one_of("asset", Asset), name="asset_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("(gas_amount IS NULL) = (gas_asset IS NULL)", name="gas_amount_has_asset"),
        Index(
            "uq_sweeps_open_per_address",
            "network",
            "address",
            "asset",
            unique=True,
            postgresql_where=text(
                f"status IN ('{SweepStatus.topping_up}', '{SweepStatus.sending}')"
            ),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    network: Mapped[str] = mapped_column(String(16))
    asset: Mapped[str] = mapped_column(String(8))
    # The deposit address swept (keys.ChainAddress.id and its address).
    address_id: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(128))
    amount: Mapped[Decimal] = mapped_column(Numeric())
    # Native coin sent ahead to pay the sweep's fee (ETH for ERC-20, TRX for TRC-20).
    gas_amount: Mapped[Decimal | None] = mapped_column(Numeric())
    gas_asset: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    failure: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


__all__ = [
    "OUTBOUND_ALLOWED",
    "OUTBOUND_OPEN",
    "SWEEP_ALLOWED",
    "SWEEP_OPEN",
    "OutboundKind",
    "OutboundStatus",
    "OutboundTx",
    "Sweep",
    "SweepStatus",
]
