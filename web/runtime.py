"""Typed lifespan state of the web process: its settings, templates and the one pooled
HTTP client every page shares to reach the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import httpx
from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates

from web.client import Refresh
from web.settings import WebSettings


@dataclass
class WebRuntime:
    settings: WebSettings
    api: httpx.AsyncClient
    templates: Jinja2Templates
    # Filled in by the identity pages: renews API tokens when the API answers 401.
    refresh: Refresh | None = None


class State(TypedDict):
    web: WebRuntime


def runtime(conn: HTTPConnection) -> WebRuntime:
    web: WebRuntime = conn.state.web
    return web
