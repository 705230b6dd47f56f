"""keys: sealed master seed, account public keys, handed-out chain addresses

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NETWORKS = ("bitcoin", "ethereum", "tron")
MAX_INDEX = 2**31 - 1


def _created_at() -> sa.Column[sa.DateTime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    for network in NETWORKS:
        op.execute(
            sa.schema.CreateSequence(
                sa.Sequence(
                    f"chain_address_index_{network}",
                    start=0,
                    minvalue=0,
                    maxvalue=MAX_INDEX,
                    cycle=False,
                )
            )
        )
    op.create_table(
        "key_seeds",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=8), nullable=False),
        sa.Column("kdf_iterations", sa.Integer(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        _created_at(),
        sa.CheckConstraint("version >= 1", name=op.f("ck_key_seeds_version_positive")),
        sa.CheckConstraint(
            "kdf_iterations >= 600000", name=op.f("ck_key_seeds_kdf_iterations_floor")
        ),
        sa.CheckConstraint("octet_length(salt) = 16", name=op.f("ck_key_seeds_salt_length")),
        sa.CheckConstraint("octet_length(nonce) = 12", name=op.f("ck_key_seeds_nonce_length")),
        sa.CheckConstraint(
            "fingerprint ~ '^[0-9a-f]{8}$'", name=op.f("ck_key_seeds_fingerprint_hex")
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_key_seeds")),
    )
    op.create_table(
        "key_accounts",
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("coin", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=32), nullable=False),
        sa.Column("xpub", sa.String(length=128), nullable=False),
        _created_at(),
        sa.CheckConstraint(
            "network IN ('bitcoin', 'ethereum', 'tron')",
            name=op.f("ck_key_accounts_network_known"),
        ),
        sa.PrimaryKeyConstraint("network", name=op.f("pk_key_accounts")),
    )
    op.create_table(
        "chain_addresses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("derivation_index", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            f"derivation_index BETWEEN 0 AND {MAX_INDEX}",
            name=op.f("ck_chain_addresses_index_range"),
        ),
        sa.CheckConstraint(
            "purpose IN ('deposit', 'hot_wallet', 'invoice')",
            name=op.f("ck_chain_addresses_purpose_known"),
        ),
        sa.CheckConstraint(
            "(owner_id IS NULL) = (purpose = 'hot_wallet')",
            name=op.f("ck_chain_addresses_owner_matches_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["network"],
            ["key_accounts.network"],
            name=op.f("fk_chain_addresses_network_key_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_addresses")),
        sa.UniqueConstraint("network", "address", name="uq_chain_addresses_network_address"),
        sa.UniqueConstraint("network", "derivation_index", name="uq_chain_addresses_network_index"),
    )
    op.create_index(
        "ix_chain_addresses_owner_id_network", "chain_addresses", ["owner_id", "network"]
    )
    op.create_index(
        "uq_chain_addresses_hot_wallet",
        "chain_addresses",
        ["network"],
        unique=True,
        postgresql_where=sa.text("purpose = 'hot_wallet'"),
    )


def downgrade() -> None:
    op.drop_table("chain_addresses")
    op.drop_table("key_accounts")
    op.drop_table("key_seeds")
    for network in NETWORKS:
        op.execute(sa.schema.DropSequence(sa.Sequence(f"chain_address_index_{network}")))
