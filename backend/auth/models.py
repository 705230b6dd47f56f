"""Sign-in state: sessions (one per device login), their rotating refresh tokens, one-time
codes (address verification and password reset), and 2FA recovery codes.

Invariants: only hashes of refresh tokens, codes and recovery codes are stored; a session
is the family of its refresh tokens, and revoking it ends every token of the family.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped


class AuthSession(Timestamped, Base):
    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id", "revoked_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    last_seen_at: Mapped[datetime]
    # The family's absolute end: rotation never extends a session past this.
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str] = mapped_column(String(45))
    user_agent: Mapped[str] = mapped_column(String(400))
    device: Mapped[str] = mapped_column(String(80))


class RefreshToken(Timestamped, Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_session_id", "session_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("auth_sessions.id"))
    expires_at: Mapped[datetime]
    # Set when the token is exchanged; a second exchange is reuse and revokes the family.
    used_at: Mapped[datetime | None]


class VerificationCode(Timestamped, Base):
    __tablename__ = "verification_codes"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'phone')", name="channel_known"),
        CheckConstraint("purpose IN ('verify', 'password_reset')", name="purpose_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index(
            "ix_verification_codes_user_purpose_channel",
            "user_id",
            "purpose",
            "channel",
            "created_at",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # What a right code proves or allows: "verify" an address, or "password_reset".
    # Each purpose has its own newest code, so one never spends or replaces another.
    purpose: Mapped[str] = mapped_column(String(16), server_default="verify")
    channel: Mapped[str] = mapped_column(String(8))
    # The address the code went to: verifying proves this value, not whatever is current.
    target: Mapped[str] = mapped_column(String(254))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]


class RecoveryCode(Timestamped, Base):
    __tablename__ = "recovery_codes"
    __table_args__ = (Index("ix_recovery_codes_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None]
