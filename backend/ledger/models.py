"""Ledger tables: accounts with a stored balance, journal transactions, append-only postings.

Invariants: every posting's asset is its account's asset (composite foreign key); a balance
never goes below zero unless the account says `allow_negative` (DB CHECK); a journal
transaction's idempotency key is unique; postings are never updated or deleted (trigger).

Sign convention (credit-positive): accounts holding claims — what we owe customers and
merchants, fee revenue — carry positive balances; accounts that mirror what we hold
outside (hot wallets, the M-Pesa float) or what we spent (network fees) go negative. So
value enters the ledger from a hot wallet or the float, and minus a hot wallet's balance
is what that wallet should hold on chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped, one_of
from contract.money import Asset, Money, Network


class Purpose(StrEnum):
    """What an account is for. The first three belong to an owner (a user or merchant id);
    the rest are system accounts (owner NULL), one per asset (hot wallets: per network too)."""

    # Owned accounts: never negative.
    available = "available"  # spendable now
    pending = "pending"  # seen but not yet final (an unconfirmed deposit)
    held = "held"  # reserved for something in flight (a withdrawal, a settlement)
    # System accounts.
    hot_wallet = "hot_wallet"
    mpesa_float = "mpesa_float"
    treasury = "treasury"
    network_fees = "network_fees"
    fees = "fees"
    clearing = "clearing"
    suspense = "suspense"


OWNED: frozenset[Purpose] = frozenset({Purpose.available, Purpose.pending, Purpose.held})


@dataclass(frozen=True)
class SystemAccount:
    purpose: Purpose
    allow_negative: bool
    why: str


SYSTEM_ACCOUNTS: dict[Purpose, SystemAccount] = {
    spec.purpose: spec
    for spec in (
        SystemAccount(
            Purpose.hot_wallet,
            allow_negative=True,
            why="mirrors one network's hot wallet: minus its balance is what should be on "
            "chain; deposits flow out of it to customers, withdrawals flow back in",
        ),
        SystemAccount(
            Purpose.mpesa_float,
            allow_negative=True,
            why="mirrors our M-Pesa shortcode float (KES): minus its balance is what "
            "Safaricom should show; STK payments flow out of it, B2C payouts flow back in",
        ),
        SystemAccount(
            Purpose.treasury,
            allow_negative=True,
            why="our own position per asset, the other side of every conversion (buy, sell, "
            "KES settlement of crypto invoices); short positions are negative",
        ),
        SystemAccount(
            Purpose.network_fees,
            allow_negative=True,
            why="gas and miner fees we paid: an expense, so negative",
        ),
        SystemAccount(
            Purpose.fees,
            allow_negative=False,
            why="fee revenue we earned; a refund can return no more than was taken",
        ),
        SystemAccount(
            Purpose.clearing,
            allow_negative=False,
            why="money in motion between two steps (a B2C submitted, not yet confirmed)",
        ),
        SystemAccount(
            Purpose.suspense,
            allow_negative=False,
            why="value received that we cannot yet attribute (a payment to an expired "
            "invoice, an unknown address) until someone decides where it goes",
        ),
    )
}


class LedgerAccount(Timestamped, Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("allow_negative OR balance >= 0", name="balance_non_negative"),
        CheckConstraint(one_of("asset", Asset), name="asset_known"),
        CheckConstraint(one_of("purpose", Purpose), name="purpose_known"),
        CheckConstraint(
            f"(owner_id IS NULL) = NOT ({one_of('purpose', OWNED)})", name="owner_matches_purpose"
        ),
        CheckConstraint(
            "(network IS NOT NULL) = (purpose = 'hot_wallet')", name="network_for_hot_wallet"
        ),
        CheckConstraint(f"network IS NULL OR {one_of('network', Network)}", name="network_known"),
        # Owned accounts never go negative, whatever a caller sets.
        CheckConstraint(
            f"NOT (allow_negative AND {one_of('purpose', OWNED)})", name="owned_never_negative"
        ),
        # NULLS NOT DISTINCT: one system account per (asset, purpose, network), too.
        UniqueConstraint(
            "owner_id",
            "asset",
            "purpose",
            "network",
            name="uq_ledger_accounts_natural_key",
            postgresql_nulls_not_distinct=True,
        ),
        # The target of the postings' composite key, so a posting's asset is its account's.
        UniqueConstraint("id", "asset", name="uq_ledger_accounts_id_asset"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(String(64))
    asset: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(String(16))
    network: Mapped[str | None] = mapped_column(String(16))
    allow_negative: Mapped[bool] = mapped_column(default=False, server_default=false())
    balance: Mapped[Decimal] = mapped_column(Numeric(), default=Decimal(0), server_default="0")

    def balance_money(self) -> Money:
        return Money(amount=self.balance, asset=Asset(self.asset))


class LedgerTransaction(Timestamped, Base):
    """One journal transaction: a set of postings applied together, once, by key."""

    __tablename__ = "ledger_transactions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    # sha256 of the canonical postings, to tell a replay from a reused key.
    postings_hash: Mapped[str] = mapped_column(String(64))
    memo: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The business object this moved money for (an invoice, a withdrawal id).
    reference: Mapped[str | None] = mapped_column(String(64), index=True)


class LedgerPosting(Base):
    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_non_zero"),
        ForeignKeyConstraint(
            ["account_id", "asset"],
            ["ledger_accounts.id", "ledger_accounts.asset"],
            name="fk_ledger_postings_account_asset",
        ),
        # History: one account's postings, newest first.
        Index("ix_ledger_postings_account_id_id", "account_id", "id"),
    )

    # Row locks serialise an account's postings, so per account this grows with time.
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ledger_transactions.id"), index=True
    )
    account_id: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal] = mapped_column(Numeric())
    balance_after: Mapped[Decimal] = mapped_column(Numeric())


__all__ = [
    "OWNED",
    "SYSTEM_ACCOUNTS",
    "LedgerAccount",
    "LedgerPosting",
    "LedgerTransaction",
    "Purpose",
    "SystemAccount",
]
