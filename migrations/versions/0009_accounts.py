"""verification codes get a purpose, so password reset codes live beside address codes

Revision ID: 0009_accounts
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_accounts"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "verification_codes",
        sa.Column("purpose", sa.String(length=16), server_default="verify", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_verification_codes_purpose_known"),
        "verification_codes",
        "purpose IN ('verify', 'password_reset')",
    )
    op.drop_index("ix_verification_codes_user_channel", table_name="verification_codes")
    op.create_index(
        "ix_verification_codes_user_purpose_channel",
        "verification_codes",
        ["user_id", "purpose", "channel", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_verification_codes_user_purpose_channel", table_name="verification_codes")
    op.execute("DELETE FROM verification_codes WHERE purpose <> 'verify'")
    op.create_index(
        "ix_verification_codes_user_channel",
        "verification_codes",
        ["user_id", "channel", "created_at"],
        unique=False,
    )
    op.drop_constraint(
        op.f("ck_verification_codes_purpose_known"), "verification_codes", type_="check"
    )
    op.drop_column("verification_codes", "purpose")
