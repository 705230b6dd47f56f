"""Pages anyone may see without signing in: the landing page and the web liveness check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from web.templating import render


async def landing(request: Request) -> Response:
    return render(request, "landing.html")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


ROUTES: list[BaseRoute] = [
    Route("/", landing, methods=["GET"], name="landing"),
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
]
