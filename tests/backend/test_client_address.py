"""Who the client is: a direct caller's own X-Forwarded-For is never believed, the web app's
signed client header is (while fresh and genuine), a configured proxy's X-Forwarded-For is
read to its rightmost untrusted hop, and the Procfile leaves the decision to the product."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from backend.api import Call, Endpoint
from backend.app import create_app
from backend.auth import sealing
from backend.routes import ENDPOINTS
from backend.runtime import Runtime
from backend.settings import Settings
from backend.users.access import public_limited
from contract import forwarding
from tests.conftest import WithState

ROOT = Path(__file__).resolve().parents[2]


class Seen(BaseModel):
    ip: str
    device: str | None


async def seen(call: Call) -> Seen:
    return Seen(ip=call.client_ip, device=call.device_id)


PROBE = Endpoint("GET", "/probe/client", seen, public_limited, "Probe: who am I", response=Seen)

App = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def app_at(settings: Settings, runtime: Runtime) -> App:
    """The API (with the probe) reached from `peer`, configured with `trusted_proxies`."""

    @asynccontextmanager
    async def serve(
        peer: str, trusted_proxies: list[str] | None = None, **overrides: str
    ) -> AsyncIterator[httpx.AsyncClient]:
        update = {"trusted_proxies": trusted_proxies or [], **overrides}
        configured = settings.model_copy(update=update)
        app = create_app(configured, [*ENDPOINTS, PROBE])
        async with app.router.lifespan_context(app) as state:
            transport = httpx.ASGITransport(app=WithState(app, dict(state or {})), client=(peer, 9))
            async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
                yield c

    return serve


def _signed(settings: Settings, ip: str, device: str | None = None, *, age_s: int = 0) -> str:
    key = sealing.derive_key(settings, forwarding.PURPOSE)
    return forwarding.client_header(key, forwarding.Client(ip, device), int(time.time()) - age_s)


async def _ip(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    answer = await api.get("/probe/client", headers=headers)
    assert answer.status_code == 200, answer.text
    ip: str = answer.json()["ip"]
    return ip


async def test_a_direct_callers_forwarded_for_is_ignored_and_it_is_limited_by_its_address(
    app_at: App,
) -> None:
    async with app_at("41.90.7.7", rate_limit_login_ip="3/minute") as api:
        assert await _ip(api, {"X-Forwarded-For": "203.0.113.1"}) == "41.90.7.7"
        statuses = [
            (
                await api.post(
                    "/v1/auth/login",
                    json={"email": f"guess{n}@example.test", "password": "whatever"},
                    headers={"X-Forwarded-For": f"203.0.113.{n}"},
                )
            ).status_code
            for n in range(4)
        ]
    assert statuses == [401, 401, 401, 429]


async def test_uvicorns_own_proxy_trust_would_believe_a_local_caller(
    app_at: App, settings: Settings
) -> None:
    """Why the Procfile turns uvicorn's proxy headers off: by default uvicorn believes any
    X-Forwarded-For from 127.0.0.1, where an attacker on the host (or a local proxy's
    other clients) would choose their own address."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    configured = settings.model_copy(update={"trusted_proxies": []})
    app = create_app(configured, [*ENDPOINTS, PROBE])
    async with app.router.lifespan_context(app) as state:
        wrapped = ProxyHeadersMiddleware(WithState(app, dict(state or {})), "127.0.0.1")
        transport = httpx.ASGITransport(app=wrapped, client=("127.0.0.1", 9))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
            assert await _ip(api, {"X-Forwarded-For": "203.0.113.1"}) == "203.0.113.1"
    for name in ("api", "web"):
        line = next(line for line in (ROOT / "Procfile").read_text().splitlines()
                    if line.startswith(f"{name}:"))  # fmt: skip
        assert "--no-proxy-headers" in line.split(), line


async def test_the_web_apps_signed_header_names_the_client_and_its_device(
    app_at: App, settings: Settings
) -> None:
    device = "dev_" + "a" * 28
    async with app_at("127.0.0.1") as api:
        answer = await api.get(
            "/probe/client",
            headers={
                forwarding.CLIENT_HEADER: _signed(settings, "197.248.10.20", device),
                "X-Forwarded-For": "203.0.113.1",
            },
        )
    assert answer.json() == {"ip": "197.248.10.20", "device": device}


async def test_a_forged_altered_or_stale_client_header_is_ignored(
    app_at: App, settings: Settings
) -> None:
    other = settings.model_copy(update={"secret_key": settings.secret_key.__class__("x" * 40)})
    genuine = _signed(settings, "197.248.10.20")
    altered = genuine.replace("197.248.10.20", "197.248.10.21")
    async with app_at("41.90.7.7") as api:
        for header in (
            _signed(other, "197.248.10.20"),  # signed with another key
            altered,  # the address changed after signing
            _signed(settings, "197.248.10.20", age_s=forwarding.MAX_AGE_S + 5),  # replayed late
            "v1,t=1,ip=197.248.10.20",  # malformed
        ):
            assert await _ip(api, {forwarding.CLIENT_HEADER: header}) == "41.90.7.7", header
        assert await _ip(api, {forwarding.CLIENT_HEADER: genuine}) == "197.248.10.20"


async def test_a_configured_proxys_forwarded_for_is_read_to_the_rightmost_untrusted_hop(
    app_at: App,
) -> None:
    async with app_at("10.1.2.3", ["10.0.0.0/8", "fd00::/8"]) as api:
        # The client wrote "6.6.6.6" itself; our proxies appended the rest.
        chain = {"X-Forwarded-For": "6.6.6.6, 197.248.1.9, 10.9.9.9"}
        assert await _ip(api, chain) == "197.248.1.9"
        assert await _ip(api, {"X-Forwarded-For": "197.248.1.9"}) == "197.248.1.9"
        assert await _ip(api, {}) == "10.1.2.3"  # nothing forwarded: the proxy itself
        assert await _ip(api, {"X-Forwarded-For": "junk, 10.9.9.9"}) == "10.9.9.9"
    # Someone outside the list is the client, whatever it forwards.
    async with app_at("41.90.7.7", ["10.0.0.0/8"]) as api:
        assert await _ip(api, {"X-Forwarded-For": "197.248.1.9"}) == "41.90.7.7"


def test_trusted_proxies_must_be_networks() -> None:
    assert Settings(trusted_proxies="10.0.0.0/8, 192.168.1.1").trusted_proxies == [
        "10.0.0.0/8",
        "192.168.1.1",
    ]
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        Settings(trusted_proxies="10.0.0.0/8,proxy.internal")
