"""Pages anyone may see without signing in: the landing page and the web liveness check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from web.session import ACCESS_TOKEN, get_session
from web.templating import render


async def landing(request: Request) -> Response:
    # No API call: holding tokens is enough to offer the way back in (/login forwards).
    signed_in = get_session(request).get(ACCESS_TOKEN) is not None
    return render(request, "landing.html", {"signed_in": signed_in})


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


ROUTES: list[BaseRoute] = [
    Route("/", landing, methods=["GET"], name="landing"),
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
]
