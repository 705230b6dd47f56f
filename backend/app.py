"""The API application: routes as data, typed lifespan state, one error renderer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend import logs
from backend.api import Endpoint, routes
from backend.errors import Busy, MethodNotAllowed, NotFound, QpeapayError
from backend.middleware import ClientAddress, RequestContext
from backend.openapi import build
from backend.routes import ENDPOINTS
from backend.runtime import open_runtime
from backend.settings import Settings, get_settings
from backend.system.routes import package_version


def _render_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, QpeapayError):
        raise TypeError("registered for QpeapayError only")
    return JSONResponse(
        exc.body().model_dump(exclude_none=False), status_code=exc.status, headers=exc.headers
    )


def _render_http(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        raise TypeError("registered for HTTPException only")
    error: QpeapayError
    if exc.status_code == 404:
        error = NotFound()
    elif exc.status_code == 405:
        error = MethodNotAllowed()
    else:
        error = QpeapayError(str(exc.detail))
        error.status = exc.status_code
    return _render_error(request, error)


def _render_busy(request: Request, exc: Exception) -> Response:
    # Every pooled connection stayed busy past the pool's timeout: the caller should come
    # back, not be told something broke.
    return _render_error(request, Busy(headers={"Retry-After": "1"}))


def lifespan(settings: Settings) -> Callable[[Starlette], Any]:
    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with open_runtime(settings) as runtime:
            yield {"runtime": runtime}

    return run


def create_app(
    settings: Settings | None = None, endpoints: Sequence[Endpoint] | None = None
) -> Starlette:
    """The API app; `endpoints` defaults to every route the product serves."""
    settings = settings or get_settings()
    endpoints = ENDPOINTS if endpoints is None else endpoints
    logs.configure(settings.log_level, settings.log_json)
    app = Starlette(
        routes=routes(endpoints),
        middleware=[Middleware(RequestContext), Middleware(ClientAddress, settings=settings)],
        exception_handlers={
            QpeapayError: _render_error,
            HTTPException: _render_http,
            PoolTimeout: _render_busy,
        },
        lifespan=lifespan(settings),
    )
    app.state.openapi = build(endpoints, package_version(), settings.public_api_url)
    app.state.settings = settings
    return app
