"""The API application: routes as data, typed lifespan state, one error renderer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend import logs, queue
from backend.api import Endpoint, routes
from backend.db import create_engine, create_sessionmaker
from backend.errors import MethodNotAllowed, NotFound, QpeapayError
from backend.middleware import RequestContext
from backend.openapi import build
from backend.routes import ENDPOINTS, LIFESPAN_HOOKS
from backend.runtime import Runtime
from backend.settings import Settings, get_settings
from backend.system.routes import package_version


def _render_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QpeapayError)
    return JSONResponse(
        exc.body().model_dump(exclude_none=False), status_code=exc.status, headers=exc.headers
    )


def _render_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: QpeapayError
    if exc.status_code == 404:
        error = NotFound()
    elif exc.status_code == 405:
        error = MethodNotAllowed()
    else:
        error = QpeapayError(str(exc.detail))
        error.status = exc.status_code
    return _render_error(request, error)


def lifespan(settings: Settings) -> Callable[[Starlette], Any]:
    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        engine = create_engine(settings.database_url, settings.database_pool_size)
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        arq = await queue.connect(settings.redis_url)
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
            )
            runtime = Runtime(
                settings=settings,
                engine=engine,
                sessionmaker=create_sessionmaker(engine),
                redis=redis,
                queue=arq,
                http=http,
            )
            for hook in LIFESPAN_HOOKS:
                await stack.enter_async_context(hook(runtime))
            try:
                yield {"runtime": runtime}
            finally:
                await arq.aclose()
                await redis.aclose()
                await engine.dispose()

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
        middleware=[Middleware(RequestContext)],
        exception_handlers={QpeapayError: _render_error, HTTPException: _render_http},
        lifespan=lifespan(settings),
    )
    app.state.openapi = build(endpoints, package_version())
    app.state.settings = settings
    return app
