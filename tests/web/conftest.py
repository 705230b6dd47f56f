"""Web fixtures: the web app in-process, its API client wired to the in-process API app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from backend.runtime import Runtime
from backend.settings import Settings
from tests.conftest import WithState
from web.app import create_app
from web.session import SessionCodec, cookie_name
from web.settings import Environment, WebSettings


@pytest.fixture(scope="session")
def web_settings(settings: Settings) -> WebSettings:
    return WebSettings(
        environment=Environment.test,
        api_url="http://api.test",
        public_api_url="http://api.test",
        public_web_url="http://web.test",
        # One SECRET_KEY for both apps, as in a deployment: it keys the signed client header.
        secret_key=settings.secret_key,
    )


@pytest.fixture(scope="session")
async def web_app(
    api_app: tuple[Starlette, dict[str, Any]], web_settings: WebSettings
) -> AsyncIterator[tuple[Starlette, dict[str, Any]]]:
    api, api_state = api_app
    to_api = httpx.ASGITransport(app=WithState(api, api_state), client=("127.0.0.1", 40001))
    app = create_app(web_settings, api_transport=to_api)
    async with app.router.lifespan_context(app) as state:
        yield app, dict(state or {})


def web_client(
    web_app: tuple[Starlette, dict[str, Any]], *, raise_app_exceptions: bool = True
) -> httpx.AsyncClient:
    app, state = web_app
    transport = httpx.ASGITransport(
        app=WithState(app, state),
        client=("127.0.0.1", 40002),
        raise_app_exceptions=raise_app_exceptions,
    )
    # A browser names the page a POST came from; the web app refuses requests that do not.
    return httpx.AsyncClient(
        transport=transport, base_url="http://web.test", headers={"Origin": "http://web.test"}
    )


@pytest.fixture
async def web(
    web_app: tuple[Starlette, dict[str, Any]], runtime: Runtime
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on the web app (cookies kept), on an emptied database and Redis."""
    async with web_client(web_app) as client:
        yield client


@pytest.fixture
def session_codec(web_settings: WebSettings) -> SessionCodec:
    """Seals cookies exactly as the web app under test does (dev/test cookie name)."""
    return SessionCodec(
        web_settings.secret_key.get_secret_value(),
        web_settings.session_max_age_s,
        cookie_name(secure=False),
    )
