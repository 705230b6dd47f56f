"""chain watch: payments to our addresses, per-network cursors and reorg checkpoints

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
# The payments reference chain_addresses (keys), another branch until the revisions are chained.
depends_on: str | Sequence[str] | None = None

NETWORKS = "network IN ('bitcoin', 'ethereum', 'tron')"


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("txid", sa.String(length=80), nullable=False),
        sa.Column("output_index", sa.Integer(), nullable=False),
        sa.Column("address_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("from_address", sa.String(length=128), nullable=True),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("block_height", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=80), nullable=True),
        sa.Column("confirmations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("required_confirmations", sa.Integer(), nullable=False),
        sa.Column("credit_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("credited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
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
            "status IN ('confirmed', 'failed', 'reorged', 'replaced', 'seen')",
            name=op.f("ck_payments_status_known"),
        ),
        sa.CheckConstraint(NETWORKS, name=op.f("ck_payments_network_known")),
        sa.CheckConstraint(
            "asset IN ('BTC', 'ETH', 'KES', 'TRX', 'USD', 'USDT')",
            name=op.f("ck_payments_asset_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint("output_index >= 0", name=op.f("ck_payments_output_index_non_negative")),
        sa.CheckConstraint(
            "(block_height IS NULL) = (block_hash IS NULL)", name=op.f("ck_payments_block_whole")
        ),
        sa.CheckConstraint(
            "confirmations >= 0", name=op.f("ck_payments_confirmations_non_negative")
        ),
        sa.CheckConstraint(
            "required_confirmations >= 1",
            name=op.f("ck_payments_required_confirmations_positive"),
        ),
        sa.CheckConstraint("credit_count >= 0", name=op.f("ck_payments_credit_count_non_negative")),
        sa.CheckConstraint(
            "status <> 'failed' OR block_height IS NOT NULL",
            name=op.f("ck_payments_failed_in_block"),
        ),
        sa.ForeignKeyConstraint(
            ["address_id"],
            ["chain_addresses.id"],
            name=op.f("fk_payments_address_id_chain_addresses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "network", "txid", "output_index", name="uq_payments_network_txid_index"
        ),
    )
    op.create_index("ix_payments_owner_id_created_at", "payments", ["owner_id", "created_at", "id"])
    op.create_index(
        "ix_payments_network_open",
        "payments",
        ["network", "status"],
        postgresql_where=sa.text("status = 'seen'"),
    )
    op.create_index("ix_payments_network_block_height", "payments", ["network", "block_height"])
    op.create_table(
        "chain_cursors",
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=80), nullable=False),
        sa.Column("tip_height", sa.BigInteger(), nullable=False),
        sa.Column(
            "ticked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(NETWORKS, name=op.f("ck_chain_cursors_network_known")),
        sa.CheckConstraint("height >= 0", name=op.f("ck_chain_cursors_height_non_negative")),
        sa.PrimaryKeyConstraint("network", name=op.f("pk_chain_cursors")),
    )
    op.create_table(
        "chain_checkpoints",
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("network", "height", name=op.f("pk_chain_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("chain_checkpoints")
    op.drop_table("chain_cursors")
    op.drop_table("payments")
