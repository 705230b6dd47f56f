"""ledger: accounts, journal transactions, append-only postings

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNED = "('available', 'held', 'pending')"
PURPOSES = (
    "('available', 'clearing', 'fees', 'held', 'hot_wallet', 'mpesa_float', "
    "'network_fees', 'pending', 'suspense', 'treasury')"
)


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=True),
        sa.Column("allow_negative", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("balance", sa.Numeric(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "allow_negative OR balance >= 0", name=op.f("ck_ledger_accounts_balance_non_negative")
        ),
        sa.CheckConstraint(
            "asset IN ('BTC', 'ETH', 'KES', 'TRX', 'USD', 'USDT')",
            name=op.f("ck_ledger_accounts_asset_known"),
        ),
        sa.CheckConstraint(f"purpose IN {PURPOSES}", name=op.f("ck_ledger_accounts_purpose_known")),
        sa.CheckConstraint(
            f"(owner_id IS NULL) = NOT (purpose IN {OWNED})",
            name=op.f("ck_ledger_accounts_owner_matches_purpose"),
        ),
        sa.CheckConstraint(
            "(network IS NOT NULL) = (purpose = 'hot_wallet')",
            name=op.f("ck_ledger_accounts_network_for_hot_wallet"),
        ),
        sa.CheckConstraint(
            "network IS NULL OR network IN ('bitcoin', 'ethereum', 'tron')",
            name=op.f("ck_ledger_accounts_network_known"),
        ),
        sa.CheckConstraint(
            f"NOT (allow_negative AND purpose IN {OWNED})",
            name=op.f("ck_ledger_accounts_owned_never_negative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("id", "asset", name="uq_ledger_accounts_id_asset"),
        sa.UniqueConstraint(
            "owner_id",
            "asset",
            "purpose",
            "network",
            name="uq_ledger_accounts_natural_key",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("postings_hash", sa.String(length=64), nullable=False),
        sa.Column("memo", sa.Text(), server_default="", nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_transactions_idempotency_key")),
    )
    op.create_index(op.f("ix_ledger_transactions_reference"), "ledger_transactions", ["reference"])
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("balance_after", sa.Numeric(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_postings_amount_non_zero")),
        sa.ForeignKeyConstraint(
            ["account_id", "asset"],
            ["ledger_accounts.id", "ledger_accounts.asset"],
            name="fk_ledger_postings_account_asset",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_postings_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    op.create_index("ix_ledger_postings_account_id_id", "ledger_postings", ["account_id", "id"])
    op.create_index(
        op.f("ix_ledger_postings_transaction_id"), "ledger_postings", ["transaction_id"]
    )
    # The journal is history: a posting, once written, is never changed or removed.
    # (TRUNCATE, which the test suite uses between tests, fires no row triggers.)
    op.execute(
        """
        CREATE FUNCTION ledger_postings_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger postings are append-only (% refused)', TG_OP;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER ledger_postings_append_only
        BEFORE UPDATE OR DELETE ON ledger_postings
        FOR EACH ROW EXECUTE FUNCTION ledger_postings_append_only()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_postings_append_only ON ledger_postings")
    op.execute("DROP FUNCTION ledger_postings_append_only()")
    op.drop_table("ledger_postings")
    op.drop_table("ledger_transactions")
    op.drop_table("ledger_accounts")
