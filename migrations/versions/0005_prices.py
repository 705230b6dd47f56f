"""prices: quotes (held offers, consumed once), limit usage and per-user limit overrides

Revision ID: 0005
Revises: 0004
Depends on: 0004 (quotes.owner_id references users)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUPPORTED = (
    "(asset = 'BTC' AND network = 'bitcoin') OR (asset = 'ETH' AND network = 'ethereum')"
    " OR (asset = 'TRX' AND network = 'tron') OR (asset = 'USDT' AND network = 'ethereum')"
    " OR (asset = 'USDT' AND network = 'tron')"
)
ACTIONS = "action IN ('buy', 'sell', 'withdraw', 'settle')"


def upgrade() -> None:
    op.create_table(
        "quotes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("flow", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("requested_amount", sa.Numeric(), nullable=False),
        sa.Column("requested_currency", sa.String(length=8), nullable=False),
        sa.Column("rate", sa.Numeric(), nullable=False),
        sa.Column("rate_sources", sa.Integer(), nullable=False),
        sa.Column("rate_as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("subtotal", sa.Numeric(), nullable=False),
        sa.Column("fee_total", sa.Numeric(), nullable=False),
        sa.Column("total", sa.Numeric(), nullable=False),
        sa.Column("fees", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consumed_by", sa.String(length=16), nullable=True),
        sa.Column("consumed_reference", sa.String(length=64), nullable=True),
        sa.CheckConstraint("flow IN ('buy', 'sell', 'invoice')", name=op.f("ck_quotes_flow_known")),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_quotes_side_known")),
        sa.CheckConstraint(SUPPORTED, name=op.f("ck_quotes_asset_on_network")),
        sa.CheckConstraint("status IN ('open', 'consumed')", name=op.f("ck_quotes_status_known")),
        sa.CheckConstraint(
            "requested_amount > 0 AND amount > 0 AND rate > 0 AND subtotal >= 0"
            " AND fee_total >= 0 AND total >= 0",
            name=op.f("ck_quotes_amounts_sane"),
        ),
        sa.CheckConstraint(
            "(status = 'consumed') = (consumed_at IS NOT NULL AND consumed_by IS NOT NULL)",
            name=op.f("ck_quotes_consumed_consistent"),
        ),
        sa.CheckConstraint(
            "consumed_by IS NULL OR consumed_by IN ('buy_order', 'sell_order', 'invoice')",
            name=op.f("ck_quotes_consumed_by_known"),
        ),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_quotes_expires_after_creation")
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_quotes_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
    )
    op.create_index("ix_quotes_owner_id_created_at", "quotes", ["owner_id", "created_at"])

    op.create_table(
        "limit_usage",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("amount_kes", sa.Numeric(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(ACTIONS, name=op.f("ck_limit_usage_action_known")),
        sa.CheckConstraint("amount_kes > 0", name=op.f("ck_limit_usage_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_usage")),
        sa.UniqueConstraint("reference", name=op.f("uq_limit_usage_reference")),
    )
    op.create_index(
        "ix_limit_usage_user_id_action_created_at",
        "limit_usage",
        ["user_id", "action", "created_at"],
    )

    op.create_table(
        "limit_overrides",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("per_transaction", sa.Numeric(), nullable=True),
        sa.Column("daily", sa.Numeric(), nullable=True),
        sa.Column("monthly", sa.Numeric(), nullable=True),
        sa.Column("per_hour", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(ACTIONS, name=op.f("ck_limit_overrides_action_known")),
        sa.CheckConstraint(
            "coalesce(per_transaction, 0) >= 0 AND coalesce(daily, 0) >= 0"
            " AND coalesce(monthly, 0) >= 0 AND coalesce(per_hour, 0) >= 0",
            name=op.f("ck_limit_overrides_not_negative"),
        ),
        sa.PrimaryKeyConstraint("user_id", "action", name=op.f("pk_limit_overrides")),
    )


def downgrade() -> None:
    op.drop_table("limit_overrides")
    op.drop_index("ix_limit_usage_user_id_action_created_at", table_name="limit_usage")
    op.drop_table("limit_usage")
    op.drop_index("ix_quotes_owner_id_created_at", table_name="quotes")
    op.drop_table("quotes")
