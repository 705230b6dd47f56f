"""Demo data for `make run`: the demo logins and each domain's showcase data; safe to rerun.

Every start of the dev stack calls `seed()`, so every step must leave the database as it
found it when its data is already there (look up before inserting, or insert ... on
conflict do nothing). Steps run in order, each in its own unit of work, so one domain's
demo data never rolls back another's.

A domain adds its demo data by writing a step and appending it to `STEPS`:

    async def _demo_users(session: AsyncSession, demo: Demo) -> None:
        for role, login in demo.logins.items():
            ...  # create the user with this role unless the email exists

    STEPS.append(_demo_users)

A step that prepares an outside stand-in (deploying a token on anvil, say) reads its URLs
from `demo.services` and records what the other processes need in `demo.exports` (merged
into that service's object in var/dev/stack.json) and `demo.env` (added to the environment
of the api, web and worker).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyotp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.db import unit_of_work
from backend.keys import signer
from backend.keys.models import SealedSeed
from backend.logs import get_logger
from backend.runtime import Runtime
from backend.settings import get_settings
from backend.users.demo import demo_users
from backend.wallets.demo import demo_wallets

log = get_logger(__name__)


@dataclass(frozen=True)
class Login:
    email: str
    password: str
    # Base32 TOTP secret, for a login that signs in with a 2FA code (admin tools need one).
    totp_secret: str | None = None

    @property
    def otpauth_uri(self) -> str | None:
        """What an authenticator app scans (or takes pasted) to produce this login's codes."""
        if self.totp_secret is None:
            return None
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.email, issuer_name="Qpeapay")


# Printed by `make run` and written to stack.json: they exist to be shared, never to guard
# anything real. Long and uncommon so a strength check on registration accepts them too.
DEMO_LOGINS: Mapping[str, Login] = {
    "customer": Login("customer@example.com", "Kahawa-Tamu-4821"),
    "merchant": Login("merchant@example.com", "Duka-La-Mama-9307"),
    "admin": Login(
        "admin@example.com",
        "Simamia-Kila-2368",
        totp_secret="QPEAPAYDEMOADMIN2FA7TOTPKEY234AB",  # noqa: S106 - a demo secret, printed
    ),
}


@dataclass
class Demo:
    """What a seeding step sees, and where it leaves what the rest of the stack needs."""

    logins: Mapping[str, Login]
    services: Mapping[str, Mapping[str, Any]]
    """stack.json objects of the services running before seeding: `anvil`, each stand-in."""
    exports: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per service name, fields to add to its stack.json object."""
    env: dict[str, str] = field(default_factory=dict)
    """Variables to add to the api, web and worker environment."""

    def export(self, service: str, **fields: Any) -> None:
        self.exports.setdefault(service, {}).update(fields)


SeedStep = Callable[[AsyncSession, Demo], Awaitable[None]]

# The demo logins come first: later steps may give them data.
STEPS: list[SeedStep] = [demo_users]


async def _master_seed(session: AsyncSession, demo: Demo) -> None:
    """A dev deployment gets its master seed at first start (elsewhere: `make keys`)."""
    if not await session.scalar(select(func.count()).select_from(SealedSeed)):
        await signer.create_seed(session, get_settings())


STEPS.append(_master_seed)
STEPS.append(demo_wallets)  # needs the master seed: hot wallets derive from it


async def seed(
    target: Runtime | async_sessionmaker[AsyncSession],
    *,
    logins: Mapping[str, Login] = DEMO_LOGINS,
    services: Mapping[str, Mapping[str, Any]] | None = None,
) -> Demo:
    """Run every demo step against the database behind `target`; returns what they left."""
    sessionmaker = target.sessionmaker if isinstance(target, Runtime) else target
    demo = Demo(logins=logins, services=services or {})
    for step in STEPS:
        async with unit_of_work(sessionmaker) as session:
            await step(session, demo)
        log.info("seed.step_done", step=step.__qualname__)
    return demo
