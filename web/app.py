"""The web application: pages as data (web.routes), the session, origin and CSRF middleware, error
pages, /static, and a typed lifespan holding the one HTTP client that reaches the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.templating import Jinja2Templates

from web import errors
from web.auth import refresh_tokens
from web.client import ApiError
from web.device import DeviceCookie
from web.headers import SecurityHeaders
from web.routes import ROUTES
from web.runtime import State, WebRuntime
from web.session import CsrfMiddleware, OriginMiddleware, SessionMiddleware
from web.settings import WebSettings, get_settings
from web.templating import STATIC_DIR, CachedStaticFiles, create_templates


def lifespan(
    settings: WebSettings,
    templates: Jinja2Templates,
    api_transport: httpx.AsyncBaseTransport | None,
) -> Callable[[Starlette], AbstractAsyncContextManager[State]]:
    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[State]:
        async with httpx.AsyncClient(
            base_url=settings.api_url,
            transport=api_transport,
            timeout=httpx.Timeout(settings.api_timeout_s, connect=3.0),
            headers={"User-Agent": "qpeapay-web"},
        ) as api:
            runtime = WebRuntime(
                settings=settings, api=api, templates=templates, refresh=refresh_tokens
            )
            yield {"web": runtime}

    return run


def create_app(
    settings: WebSettings | None = None,
    api_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """`api_transport` replaces the network hop to the API (tests pass the in-process API)."""
    settings = settings or get_settings()
    secret = settings.secret_key.get_secret_value()
    app = Starlette(
        routes=[*ROUTES, Mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")],
        middleware=[
            Middleware(SecurityHeaders, hsts=settings.secure_cookies),
            Middleware(
                SessionMiddleware,
                secret=secret,
                max_age_s=settings.session_max_age_s,
                secure=settings.secure_cookies,
            ),
            Middleware(
                OriginMiddleware, allowed=[settings.public_web_url], reject=errors.origin_rejected
            ),
            Middleware(CsrfMiddleware, reject=errors.csrf_rejected),
            Middleware(DeviceCookie, secure=settings.secure_cookies),
        ],
        exception_handlers={
            HTTPException: errors.http_error,
            ApiError: errors.api_error,
            Exception: errors.server_error,
        },
        lifespan=lifespan(settings, create_templates(settings), api_transport),
    )
    app.state.settings = settings
    return app
