"""The users table: one row per person or business, their role, verifications and 2FA state.

Invariants: email is stored normalised and unique; phone is E.164; a merchant has a
business name; the KYC tier is derived from the verification timestamps, never stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped
from contract.kyc import KycTier
from contract.users import Role


class User(Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'merchant', 'admin')", name="role_known"),
        CheckConstraint(
            "role <> 'merchant' OR business_name IS NOT NULL", name="merchant_has_business"
        ),
        CheckConstraint("email = lower(btrim(email))", name="email_normalised"),
        CheckConstraint("phone ~ '^\\+254[0-9]{9}$'", name="phone_e164_kenya"),
        Index("ix_users_phone", "phone"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    business_name: Mapped[str | None] = mapped_column(String(120))
    email_verified_at: Mapped[datetime | None]
    phone_verified_at: Mapped[datetime | None]
    # Set by an admin who checked identity documents; lifts the user to tier 2.
    identity_verified_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # AES-GCM sealed TOTP secret; present but not enabled while enrolment awaits a code.
    totp_secret_sealed: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None]
    # Last TOTP time step accepted, so one code cannot be replayed inside its window.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def kyc_tier(self) -> KycTier:
        if self.email_verified_at is None or self.phone_verified_at is None:
            return KycTier.tier_0
        if self.identity_verified_at is None:
            return KycTier.tier_1
        return KycTier.tier_2

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None
