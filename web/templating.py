"""Jinja2 set-up: templates in web/templates, the globals every page uses (CSRF field and
token, flash messages, cache-busted static URLs), and one `render` for pages."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from web.runtime import runtime
from web.session import CSRF_FIELD, Flash, Session, get_session
from web.settings import WebSettings

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


class StaticAssets:
    """URLs for files under static/ carrying a content hash, so browsers may cache them
    for a year and still see a rebuilt file at once."""

    def __init__(self, directory: Path, prefix: str = "/static") -> None:
        self.directory, self.prefix = directory, prefix
        self._digests: dict[str, tuple[int, str]] = {}

    def url(self, path: str) -> str:
        try:
            mtime = (self.directory / path).stat().st_mtime_ns
        except FileNotFoundError:
            return f"{self.prefix}/{path}"
        cached = self._digests.get(path)
        if cached is None or cached[0] != mtime:
            digest = hashlib.sha256((self.directory / path).read_bytes()).hexdigest()[:12]
            cached = self._digests[path] = (mtime, digest)
        return f"{self.prefix}/{path}?v={cached[1]}"


class CachedStaticFiles(StaticFiles):
    """Versioned URLs (`?v=`) are immutable; anything else is revalidated by ETag."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            versioned = b"v=" in scope.get("query_string", b"")
            response.headers["Cache-Control"] = (
                "public, max-age=31536000, immutable" if versioned else "no-cache"
            )
        return response


def _session(context: Mapping[str, Any]) -> Session | None:
    request = context.get("request")
    if request is None:
        return None
    try:
        return get_session(request)
    except RuntimeError:
        return None  # an error page rendered before the session middleware ran


@pass_context
def csrf_token(context: Mapping[str, Any]) -> str:
    session = _session(context)
    return session.csrf_token() if session is not None else ""


@pass_context
def csrf_input(context: Mapping[str, Any]) -> Markup:
    """The hidden field every non-htmx <form method="post"> must contain."""
    token = csrf_token(context)
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


@pass_context
def flashes(context: Mapping[str, Any]) -> list[Flash]:
    session = _session(context)
    return session.take_flashes() if session is not None else []


def create_templates(settings: WebSettings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    env = templates.env
    env.globals.update(
        csrf_token=csrf_token,
        csrf_input=csrf_input,
        flashes=flashes,
        static_url=StaticAssets(STATIC_DIR).url,
        public_api_url=settings.public_api_url.rstrip("/"),
        public_web_url=settings.public_web_url.rstrip("/"),
    )
    return templates


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return runtime(request).templates.TemplateResponse(
        request, template, context or {}, status_code=status_code, headers=headers
    )
