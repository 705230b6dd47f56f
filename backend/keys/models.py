"""Tables of the keys domain: the sealed master seed, account public keys, handed-out addresses.

Invariants: the seed is stored only sealed (AES-256-GCM), one row per secret version, all of
one seed; account keys are public (xpub) so addresses are derived without the seed; an
address is handed out once per network, unique on (network, address) and on (network,
derivation index), with indexes drawn from one PostgreSQL sequence per network; an address
carries its match key (the form blocks carry it in, backend.connectors.match), unique per
network, set by the service that hands the address out.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped, one_of
from contract.money import Network

MAX_INDEX = 2**31 - 1  # BIP-32: higher indexes are hardened, which public derivation cannot do


class AddressPurpose(StrEnum):
    deposit = "deposit"  # a customer's persistent wallet deposit address
    invoice = "invoice"  # one invoice's payment address
    hot_wallet = "hot_wallet"  # the treasury address per network: sweeps land, withdrawals leave


# nextval() never blocks and never hands the same number out twice, even across rolled
# back transactions (which leave a harmless gap: our own table, not a BIP-44 gap-limit
# scan, is how addresses are found again).
INDEX_SEQUENCES: dict[Network, Sequence] = {
    network: Sequence(
        f"chain_address_index_{network}",
        start=0,
        minvalue=0,
        maxvalue=MAX_INDEX,
        cycle=False,
        metadata=Base.metadata,
    )
    for network in Network
}


class SealedSeed(Timestamped, Base):
    """The BIP-39 mnemonic sealed under KEYS_SECRET of one version (several during rotation)."""

    __tablename__ = "key_seeds"
    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("kdf_iterations >= 600000", name="kdf_iterations_floor"),
        CheckConstraint("octet_length(salt) = 16", name="salt_length"),
        CheckConstraint("octet_length(nonce) = 12", name="nonce_length"),
        CheckConstraint("fingerprint ~ '^[0-9a-f]{8}$'", name="fingerprint_hex"),
    )

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # BIP-32 master key fingerprint: public, tells which seed a copy holds.
    fingerprint: Mapped[str] = mapped_column(String(8))
    kdf_iterations: Mapped[int] = mapped_column(Integer)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)

    def __repr__(self) -> str:
        return f"SealedSeed(version={self.version}, fingerprint={self.fingerprint!r})"


class AccountKey(Timestamped, Base):
    """The BIP-44/84 account-level extended public key a network's addresses derive from."""

    __tablename__ = "key_accounts"
    __table_args__ = (CheckConstraint(one_of("network", Network), name="network_known"),)

    network: Mapped[str] = mapped_column(String(16), primary_key=True)
    coin: Mapped[str] = mapped_column(String(32))  # bip-utils coin, e.g. BITCOIN_REGTEST
    path: Mapped[str] = mapped_column(String(32))  # account path, e.g. m/84'/1'/0'
    xpub: Mapped[str] = mapped_column(String(128))


class ChainAddress(Timestamped, Base):
    __tablename__ = "chain_addresses"
    __table_args__ = (
        UniqueConstraint("network", "address", name="uq_chain_addresses_network_address"),
        UniqueConstraint("network", "derivation_index", name="uq_chain_addresses_network_index"),
        CheckConstraint(f"derivation_index BETWEEN 0 AND {MAX_INDEX}", name="index_range"),
        CheckConstraint(one_of("purpose", AddressPurpose), name="purpose_known"),
        CheckConstraint(
            "(owner_id IS NULL) = (purpose = 'hot_wallet')", name="owner_matches_purpose"
        ),
        Index("ix_chain_addresses_owner_id_network", "owner_id", "network"),
        Index(
            "uq_chain_addresses_hot_wallet",
            "network",
            unique=True,
            postgresql_where=text("purpose = 'hot_wallet'"),
        ),
        # What the watchers ask once per scanned block: which of its recipients are ours.
        Index("uq_chain_addresses_network_match_key", "network", "match_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    network: Mapped[str] = mapped_column(String(16), ForeignKey("key_accounts.network"))
    derivation_index: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(16))
    # Who the address belongs to: a user, merchant or invoice id; NULL for the hot wallet.
    owner_id: Mapped[str | None] = mapped_column(String(64))
    # Bitcoin: the output script in hex; Ethereum, Tron: the 20-byte account in hex. NULL
    # only for a string no block can pay (never one we derived).
    match_key: Mapped[str | None] = mapped_column(String(128))


__all__ = ["INDEX_SEQUENCES", "AccountKey", "AddressPurpose", "ChainAddress", "SealedSeed"]
