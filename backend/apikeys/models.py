"""Merchant API keys: a visible prefix, a hash of the secret, scopes, and last use.

Invariants: the secret is never stored, only its SHA-256; scopes are from the known set;
a revoked key never authenticates again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, Timestamped
from contract.apikeys import Scope

_KNOWN = ", ".join(f"'{scope.value}'" for scope in Scope)


class ApiKey(Timestamped, Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(f"scopes <@ ARRAY[{_KNOWN}]::varchar[]", name="scopes_known"),
        CheckConstraint("cardinality(scopes) > 0", name="scopes_present"),
        CheckConstraint("mode IN ('test', 'live')", name="mode_known"),
        Index("ix_api_keys_user_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(80))
    mode: Mapped[str] = mapped_column(String(4))
    # The first characters of the secret, shown so people can tell their keys apart.
    prefix: Mapped[str] = mapped_column(String(24))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
