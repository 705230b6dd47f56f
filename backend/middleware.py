"""Outermost ASGI middleware: request id, structured access log, metrics, the last line of
defence that turns an unhandled exception into a 500 with a reference id, and who the
client is.

Invariant: `scope["client"]` holds the address we count a request against: the web app's
signed client header when valid, else the rightmost untrusted `X-Forwarded-For` hop when
the peer is one of TRUSTED_PROXIES, else the peer. A caller never chooses its own address.
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.auth import sealing
from backend.errors import QpeapayError
from backend.logs import get_logger
from backend.settings import Settings
from contract import forwarding
from contract.ids import new_id

log = get_logger("http")

REQUESTS = Counter(
    "qpeapay_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "qpeapay_http_request_seconds", "Time to answer an HTTP request", ["method", "route"]
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else new_id("req")
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = False
        t0 = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            reference = new_id("err")
            log.exception("request.failed", reference=reference, path=scope["path"])
            if not started:
                body = QpeapayError().body(reference).model_dump_json().encode()
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - t0
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            log.info(
                "request.done",
                method=scope["method"],
                route=template,
                status=status,
                ms=round(elapsed * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("request_id")


# Where ClientAddress leaves the device the web app vouched for (None when unknown).
DEVICE_SCOPE_KEY = "qpeapay.device"


class ClientAddress:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.proxies = forwarding.parse_networks(settings.trusted_proxies)
        self.key = sealing.derive_key(settings, forwarding.PURPOSE)

    def resolve(self, scope: Scope) -> forwarding.Client:
        peer: Any = scope.get("client")
        peer_ip = peer[0] if peer else "unknown"
        signed: list[str] = []
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            if name == forwarding.CLIENT_HEADER.encode():
                signed.append(value.decode("latin-1"))
            elif name == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
        if len(signed) == 1:
            vouched = forwarding.read_client_header(self.key, signed[0], int(time.time()))
            if vouched is not None:
                return vouched
            log.info("client_header.refused", peer=peer_ip)
        return forwarding.Client(forwarding.forwarded_client(peer_ip, forwarded, self.proxies))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = self.resolve(scope)
            peer = scope.get("client")
            scope["client"] = (client.ip, peer[1] if peer else 0)
            scope[DEVICE_SCOPE_KEY] = client.device
        await self.app(scope, receive, send)
