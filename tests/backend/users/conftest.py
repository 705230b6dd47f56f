"""An API with every product route plus probe routes guarded by each Access rule, so the
rules can be exercised before other domains have routes that use them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel

from backend.api import Call, Endpoint
from backend.app import create_app
from backend.routes import ENDPOINTS
from backend.runtime import Runtime
from backend.settings import Settings
from backend.users.access import merchant_key_or_user, public_limited, signed_in
from contract.apikeys import Scope
from contract.users import Role
from tests.conftest import WithState


class Seen(BaseModel):
    user_id: str | None
    role: str | None
    api_key_id: str | None


async def whoami(call: Call) -> Seen:
    p = call.principal
    return Seen(
        user_id=p.user_id if p else None,
        role=p.role if p else None,
        api_key_id=p.api_key_id if p else None,
    )


PROBES = [
    Endpoint("GET", "/probe/invoices", whoami, merchant_key_or_user(Scope.invoices_read),
             "Probe: merchant or key with invoices:read", response=Seen,
             operation_id="probe_invoices"),
    Endpoint("GET", "/probe/customers", whoami, signed_in(Role.customer),
             "Probe: customers only", response=Seen, operation_id="probe_customers"),
    Endpoint("GET", "/probe/public", whoami, public_limited, "Probe: anyone, limited",
             response=Seen, operation_id="probe_public"),
]  # fmt: skip


@pytest.fixture
async def probe_api(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, [*ENDPOINTS, *PROBES])
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(
            app=WithState(app, dict(state or {})), client=("127.0.0.1", 40001)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://probe.test") as c:
            yield c
