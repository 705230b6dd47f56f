"""The device cookie: one random id per browser, which the web app passes to the API inside
its signed client header so limits can tell apart people who share one address (a mobile
carrier's NAT puts thousands of customers behind a few addresses).

Invariant: the id is a label for counting, never a credential: a browser may drop or change
it at will and only gets a fresh id; it is HttpOnly so page scripts never see it.
"""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract.forwarding import DEVICE_ID

COOKIE = "qpeapay_device"
MAX_AGE_S = 2 * 365 * 24 * 3600
# Where the middleware leaves this browser's device id for the API client.
SCOPE_KEY = "qpeapay.device"


def _cookie_value(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except ValueError:  # http.cookies.CookieError: a garbled header names no device
                continue
            if COOKIE in jar and DEVICE_ID.match(jar[COOKIE].value):
                return jar[COOKIE].value
    return None


class DeviceCookie:
    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        device = _cookie_value(scope)
        new = device is None
        if device is None:
            device = secrets.token_urlsafe(24)
        scope[SCOPE_KEY] = device

        async def send_with_cookie(message: Message) -> None:
            if new and message["type"] == "http.response.start":
                cookie = f"{COOKIE}={device}; Path=/; Max-Age={MAX_AGE_S}; HttpOnly; SameSite=Lax"
                MutableHeaders(scope=message).append(
                    "set-cookie", cookie + ("; Secure" if self.secure else "")
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)
