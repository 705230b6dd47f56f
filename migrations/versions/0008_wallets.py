"""wallets: withdrawals, P2P transfers, the transactions we send, and sweeps

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbound_transactions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference_id", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=128), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("txid", sa.String(length=128), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fee", sa.Numeric(), nullable=True),
        sa.Column("fee_asset", sa.String(length=8), nullable=True),
        sa.Column("block_height", sa.BigInteger(), nullable=True),
        sa.Column("confirmations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("broadcast_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "asset IN ('BTC', 'ETH', 'KES', 'TRX', 'USD', 'USDT')",
            name=op.f("ck_outbound_transactions_asset_known"),
        ),
        sa.CheckConstraint(
            "kind IN ('gas_topup', 'sweep', 'withdrawal')",
            name=op.f("ck_outbound_transactions_kind_known"),
        ),
        sa.CheckConstraint(
            "network IN ('bitcoin', 'ethereum', 'tron')",
            name=op.f("ck_outbound_transactions_network_known"),
        ),
        sa.CheckConstraint(
            "status <> 'confirmed' OR fee IS NOT NULL",
            name=op.f("ck_outbound_transactions_confirmed_has_fee"),
        ),
        sa.CheckConstraint(
            "status IN ('broadcast', 'confirmed', 'failed', 'signed')",
            name=op.f("ck_outbound_transactions_status_known"),
        ),
        sa.CheckConstraint(
            "(fee IS NULL) = (fee_asset IS NULL)",
            name=op.f("ck_outbound_transactions_fee_has_asset"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_outbound_transactions_amount_positive")),
        sa.CheckConstraint(
            "confirmations >= 0", name=op.f("ck_outbound_transactions_confirmations_not_negative")
        ),
        sa.CheckConstraint(
            "fee IS NULL OR fee >= 0", name=op.f("ck_outbound_transactions_fee_not_negative")
        ),
        sa.CheckConstraint(
            "nonce IS NULL OR nonce >= 0", name=op.f("ck_outbound_transactions_nonce_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_transactions")),
    )
    op.create_index(
        "ix_outbound_transactions_open",
        "outbound_transactions",
        ["network", "sender"],
        unique=False,
        postgresql_where=sa.text("status IN ('signed', 'broadcast')"),
    )
    op.create_index(
        "uq_outbound_transactions_kind_reference",
        "outbound_transactions",
        ["kind", "reference_id"],
        unique=True,
    )
    op.create_index(
        "uq_outbound_transactions_live_nonce",
        "outbound_transactions",
        ["network", "sender", "nonce"],
        unique=True,
        postgresql_where=sa.text("nonce IS NOT NULL AND status <> 'failed'"),
    )
    op.create_index(
        "uq_outbound_transactions_network_txid",
        "outbound_transactions",
        ["network", "txid"],
        unique=True,
        postgresql_where=sa.text("status <> 'failed'"),
    )
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("address_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("gas_amount", sa.Numeric(), nullable=True),
        sa.Column("gas_asset", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "asset IN ('BTC', 'ETH', 'KES', 'TRX', 'USD', 'USDT')",
            name=op.f("ck_sweeps_asset_known"),
        ),
        sa.CheckConstraint(
            "network IN ('bitcoin', 'ethereum', 'tron')", name=op.f("ck_sweeps_network_known")
        ),
        sa.CheckConstraint(
            "status IN ('confirmed', 'failed', 'sending', 'topping_up')",
            name=op.f("ck_sweeps_status_known"),
        ),
        sa.CheckConstraint(
            "(gas_amount IS NULL) = (gas_asset IS NULL)",
            name=op.f("ck_sweeps_gas_amount_has_asset"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_sweeps_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    op.create_index(
        "uq_sweeps_open_per_address",
        "sweeps",
        ["network", "address", "asset"],
        unique=True,
        postgresql_where=sa.text("status IN ('topping_up', 'sending')"),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("sender_id", sa.String(length=32), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("note", sa.String(length=140), nullable=True),
        sa.Column("recipient_label", sa.String(length=254), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("asset IN ('BTC', 'USDT')", name=op.f("ck_transfers_asset_known")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_transfers_amount_positive")),
        sa.CheckConstraint("sender_id <> recipient_id", name=op.f("ck_transfers_not_to_self")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
    )
    op.create_index(
        "ix_transfers_recipient_id_created_at",
        "transfers",
        ["recipient_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_transfers_sender_id_created_at", "transfers", ["sender_id", "created_at"], unique=False
    )
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("network_fee", sa.Numeric(), nullable=False),
        sa.Column("platform_fee", sa.Numeric(), nullable=False),
        sa.Column("total", sa.Numeric(), nullable=False),
        sa.Column("network_fee_text", sa.Text(), server_default="", nullable=False),
        sa.Column("platform_fee_text", sa.Text(), server_default="", nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("txid", sa.String(length=128), nullable=True),
        sa.Column("outbound_id", sa.String(length=32), nullable=True),
        sa.Column("confirmations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'failed') = (failure_code IS NOT NULL)",
            name=op.f("ck_withdrawals_failed_says_why"),
        ),
        sa.CheckConstraint(
            "NOT internal OR (recipient_id IS NOT NULL AND network_fee = 0 AND txid IS NULL"
            " AND status IN ('requested', 'confirmed'))",
            name=op.f("ck_withdrawals_internal_settles_in_ledger"),
        ),
        sa.CheckConstraint(
            "asset IN ('BTC', 'ETH', 'KES', 'TRX', 'USD', 'USDT')",
            name=op.f("ck_withdrawals_asset_known"),
        ),
        sa.CheckConstraint(
            "internal OR status IN ('requested', 'failed') OR txid IS NOT NULL",
            name=op.f("ck_withdrawals_sent_has_txid"),
        ),
        sa.CheckConstraint(
            "network IN ('bitcoin', 'ethereum', 'tron')", name=op.f("ck_withdrawals_network_known")
        ),
        sa.CheckConstraint(
            "status IN ('broadcast', 'confirmed', 'failed', 'requested', 'signed')",
            name=op.f("ck_withdrawals_status_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_withdrawals_amount_positive")),
        sa.CheckConstraint(
            "internal OR recipient_id IS NULL", name=op.f("ck_withdrawals_recipient_only_internal")
        ),
        sa.CheckConstraint(
            "network_fee >= 0 AND platform_fee >= 0", name=op.f("ck_withdrawals_fees_not_negative")
        ),
        sa.CheckConstraint(
            "total = amount + network_fee + platform_fee", name=op.f("ck_withdrawals_total_adds_up")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
    )
    op.create_index(
        "ix_withdrawals_open",
        "withdrawals",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('requested', 'signed', 'broadcast')"),
    )
    op.create_index(
        "ix_withdrawals_recipient_id_created_at",
        "withdrawals",
        ["recipient_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("recipient_id IS NOT NULL"),
    )
    op.create_index(
        "ix_withdrawals_user_id_created_at", "withdrawals", ["user_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_withdrawals_user_id_created_at", table_name="withdrawals")
    op.drop_index(
        "ix_withdrawals_recipient_id_created_at",
        table_name="withdrawals",
        postgresql_where=sa.text("recipient_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_withdrawals_open",
        table_name="withdrawals",
        postgresql_where=sa.text("status IN ('requested', 'signed', 'broadcast')"),
    )
    op.drop_table("withdrawals")
    op.drop_index("ix_transfers_sender_id_created_at", table_name="transfers")
    op.drop_index("ix_transfers_recipient_id_created_at", table_name="transfers")
    op.drop_table("transfers")
    op.drop_index(
        "uq_sweeps_open_per_address",
        table_name="sweeps",
        postgresql_where=sa.text("status IN ('topping_up', 'sending')"),
    )
    op.drop_table("sweeps")
    op.drop_index(
        "uq_outbound_transactions_network_txid",
        table_name="outbound_transactions",
        postgresql_where=sa.text("status <> 'failed'"),
    )
    op.drop_index(
        "uq_outbound_transactions_live_nonce",
        table_name="outbound_transactions",
        postgresql_where=sa.text("nonce IS NOT NULL AND status <> 'failed'"),
    )
    op.drop_index("uq_outbound_transactions_kind_reference", table_name="outbound_transactions")
    op.drop_index(
        "ix_outbound_transactions_open",
        table_name="outbound_transactions",
        postgresql_where=sa.text("status IN ('signed', 'broadcast')"),
    )
    op.drop_table("outbound_transactions")
