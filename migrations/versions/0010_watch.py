"""chain addresses carry their match key, unique per network: what a scanned block asks for

Revision ID: 0010
Revises: 0009_accounts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from backend.connectors.match import match_key

revision: str = "0010"
down_revision: str | None = "0009_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 10_000


def _backfill() -> None:
    bind = op.get_bind()
    after = ""
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, network, address FROM chain_addresses"
                " WHERE id > :after ORDER BY id LIMIT :batch"
            ),
            {"after": after, "batch": BATCH},
        ).all()
        if not rows:
            return
        bind.execute(
            sa.text(
                "UPDATE chain_addresses SET match_key = v.match_key"
                " FROM unnest(:ids, :keys) AS v(id, match_key) WHERE chain_addresses.id = v.id"
            ).bindparams(
                sa.bindparam("ids", type_=postgresql.ARRAY(sa.String())),
                sa.bindparam("keys", type_=postgresql.ARRAY(sa.String())),
            ),
            {
                "ids": [row.id for row in rows],
                "keys": [match_key(row.network, row.address) for row in rows],
            },
        )
        after = rows[-1].id


def upgrade() -> None:
    op.add_column("chain_addresses", sa.Column("match_key", sa.String(length=128), nullable=True))
    _backfill()
    op.create_index(
        "uq_chain_addresses_network_match_key",
        "chain_addresses",
        ["network", "match_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_chain_addresses_network_match_key", table_name="chain_addresses")
    op.drop_column("chain_addresses", "match_key")
