"""The demo logins `make run` prints: a customer, a merchant with a business and an admin,
verified (email and phone) so they can use the product at once; a login with a TOTP secret
(the admin's: admin tools need 2FA) gets two-factor sign-in on with it. Idempotent: an
existing email is only given its 2FA if it lacks it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import twofactor
from backend.db import utcnow
from backend.logs import get_logger
from backend.settings import get_settings
from backend.users.models import User
from backend.users.service import create_user
from contract.users import Role

log = get_logger(__name__)

PHONES = {Role.customer: "+254712345001", Role.merchant: "+254722345002",
          Role.admin: "+254733345003"}  # fmt: skip  # a lookup table, several entries a line
BUSINESS_NAME = "Mama Mboga Groceries"


class _Login(Protocol):
    @property
    def email(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def totp_secret(self) -> str | None: ...


class _Demo(Protocol):
    @property
    def logins(self) -> Mapping[str, _Login]: ...


async def demo_users(session: AsyncSession, demo: _Demo) -> None:
    """Seed step: one verified user per demo login, its role named by the login's key."""
    for key, login in demo.logins.items():
        role = Role(key)
        user = await session.scalar(select(User).where(User.email == login.email))
        if user is None:
            user = await create_user(
                session,
                email=login.email,
                password=login.password,
                phone=PHONES[role],
                role=role,
                business_name=BUSINESS_NAME if role is Role.merchant else None,
            )
            user.email_verified_at = user.phone_verified_at = utcnow()
            log.info("seed.demo_user_created", user_id=user.id, role=role.value)
        if login.totp_secret and not user.two_factor_enabled:
            twofactor.turn_on_with_secret(get_settings(), user, login.totp_secret)
