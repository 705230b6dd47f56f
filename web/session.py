"""The browser session and CSRF protection.

Invariants: the session lives only in an AES-GCM encrypted, authenticated cookie (HttpOnly,
SameSite=Lax, Secure outside dev/test) that expires server-side too; a cookie that fails to
decrypt, is stale or malformed is dropped and the request gets a fresh, empty session, never
an error. Every unsafe request must come from one of our own pages (its Origin, or without
one its Referer, is the web app's origin) and carry this session's CSRF token as the form
field `csrf_token` or the `X-CSRF-Token` header, or it is refused before any handler runs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")

_SCOPE_KEY = "qpeapay.session"
_VERSION = b"\x01"
_NONCE_BYTES = 12
# Browsers silently drop cookies over 4096 bytes; failing loudly beats losing the session.
MAX_COOKIE_BYTES = 4000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_CSRF_SECRET = "_csrf"  # noqa: S105 - the session slot's name, not a secret
_FLASHES = "_flash"


@dataclass(frozen=True)
class SessionKey(Generic[T]):
    """A typed slot in the session. Values must be JSON: str, int, bool, list or dict."""

    name: str
    type: type[T]


# The API tokens the identity pages store and the API client sends.
ACCESS_TOKEN: SessionKey[str] = SessionKey("access_token", str)
REFRESH_TOKEN: SessionKey[str] = SessionKey("refresh_token", str)

FlashLevel = Literal["info", "success", "error"]


@dataclass(frozen=True)
class Flash:
    level: FlashLevel
    message: str


class SessionTooLarge(RuntimeError):
    """The session no longer fits in a cookie: store less in it."""


class Session:
    """One browser's session for the length of a request; written back only if changed."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})
        self.modified = False

    def get(self, key: SessionKey[T]) -> T | None:
        value = self._values.get(key.name)
        # An old cookie may hold a value from before a key changed type; treat it as absent.
        return value if isinstance(value, key.type) else None

    def set(self, key: SessionKey[T], value: T) -> None:
        self._values[key.name] = value
        self.modified = True

    def pop(self, key: SessionKey[T]) -> T | None:
        value = self.get(key)
        if key.name in self._values:
            del self._values[key.name]
            self.modified = True
        return value

    def clear(self) -> None:
        """Forget everything, the CSRF secret included: call on sign-in and sign-out so a
        token seen before the change of identity is worthless after it."""
        self._values = {}
        self.modified = True

    @property
    def is_empty(self) -> bool:
        return not self._values

    def dump(self) -> dict[str, Any]:
        return dict(self._values)

    # Flash messages: shown once, on the next page this browser renders.
    def flash(self, message: str, level: FlashLevel = "info") -> None:
        self._values.setdefault(_FLASHES, []).append([level, message])
        self.modified = True

    def take_flashes(self) -> list[Flash]:
        raw = self._values.pop(_FLASHES, None)
        if raw is None:
            return []
        self.modified = True
        return [
            Flash(cast(FlashLevel, level), message)
            for level, message in raw
            if level in ("info", "success", "error") and isinstance(message, str)
        ]

    # CSRF: one secret per session; each rendering gets a freshly masked copy of it so the
    # secret never appears twice in a compressed response (BREACH).
    def csrf_token(self) -> str:
        secret = self._csrf_secret()
        if secret is None:
            secret = secrets.token_bytes(32)
            self._values[_CSRF_SECRET] = _b64encode(secret)
            self.modified = True
        pad = secrets.token_bytes(len(secret))
        return _b64encode(pad + bytes(a ^ b for a, b in zip(pad, secret, strict=True)))

    def csrf_valid(self, token: str | None) -> bool:
        secret = self._csrf_secret()
        if secret is None or not token:
            return False
        try:
            raw = _b64decode(token)
        except ValueError:
            return False
        if len(raw) != 2 * len(secret):
            return False
        pad, masked = raw[: len(secret)], raw[len(secret) :]
        return hmac.compare_digest(bytes(a ^ b for a, b in zip(pad, masked, strict=True)), secret)

    def _csrf_secret(self) -> bytes | None:
        stored = self._values.get(_CSRF_SECRET)
        return _b64decode(stored) if isinstance(stored, str) else None


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not base64url") from exc


class SessionCodec:
    """Seals session values into a cookie value and opens them again.

    Layout: base64url(version || nonce || AES-256-GCM(json{"exp", "v"})), with the version
    byte and cookie name as associated data so a value sealed for another purpose or
    format never opens here.
    """

    def __init__(self, secret: str, max_age_s: int, cookie_name: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"qpeapay", info=b"web.session.v1"
        ).derive(secret.encode())
        self._aead = AESGCM(key)
        self._aad = _VERSION + cookie_name.encode()
        self.max_age_s = max_age_s

    def seal(self, values: dict[str, Any], now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.max_age_s)
        payload = json.dumps({"exp": expires, "v": values}, separators=(",", ":")).encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _b64encode(_VERSION + nonce + self._aead.encrypt(nonce, payload, self._aad))
        if len(sealed) > MAX_COOKIE_BYTES:
            raise SessionTooLarge(f"session cookie would be {len(sealed)} bytes")
        return sealed

    def open(self, sealed: str, now: float | None = None) -> dict[str, Any] | None:
        """The values, or None for anything forged, foreign, garbled or expired."""
        try:
            raw = _b64decode(sealed)
            if raw[:1] != _VERSION or len(raw) < 1 + _NONCE_BYTES + 16:
                return None
            nonce, body = raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
            payload = json.loads(self._aead.decrypt(nonce, body, self._aad))
        except (ValueError, InvalidTag):
            return None
        if not isinstance(payload, dict):
            return None
        expires, values = payload.get("exp"), payload.get("v")
        if not isinstance(expires, int) or not isinstance(values, dict):
            return None
        if expires <= (time.time() if now is None else now):
            return None
        return values


def cookie_name(secure: bool) -> str:
    # The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and
    # Path=/, so a sibling subdomain cannot plant a session on us.
    return "__Host-qpeapay" if secure else "qpeapay_session"


def get_session(conn: HTTPConnection) -> Session:
    """The current request's session (SessionMiddleware must wrap the app)."""
    session = conn.scope.get(_SCOPE_KEY)
    if not isinstance(session, Session):
        raise RuntimeError("SessionMiddleware is not installed")
    return session


class SessionMiddleware:
    def __init__(self, app: ASGIApp, *, secret: str, max_age_s: int, secure: bool) -> None:
        self.app = app
        self.secure = secure
        self.cookie_name = cookie_name(secure)
        self.codec = SessionCodec(secret, max_age_s, self.cookie_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = HTTPConnection(scope).cookies.get(self.cookie_name)
        values = self.codec.open(raw) if raw else None
        session = Session(values)
        # A cookie we could not open is replaced (or removed) rather than sent back forever.
        session.modified = raw is not None and values is None
        scope[_SCOPE_KEY] = session

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.modified:
                headers = MutableHeaders(scope=message)
                if session.is_empty:
                    headers.append("set-cookie", self._cookie("", max_age=0))
                else:
                    value = self.codec.seal(session.dump())
                    headers.append("set-cookie", self._cookie(value, self.codec.max_age_s))
                headers.add_vary_header("Cookie")
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, value: str, max_age: int) -> str:
        parts = [f"{self.cookie_name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly"]
        parts.append("SameSite=Lax")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


Reject = Callable[[Request], Awaitable[Response]]


async def _plain_wrong_origin(request: Request) -> Response:
    return PlainTextResponse("This request did not come from our own pages.", status_code=403)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """ "scheme://host[:port]" of a URL, lower-cased, the scheme's default port left out;
    None for anything that is not an absolute http(s) URL (an opaque "null" origin too)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return (
        f"{scheme}://{host}"
        if port in (None, _DEFAULT_PORTS[scheme])
        else f"{scheme}://{host}:{port}"
    )


class OriginMiddleware:
    """Refuses unsafe requests that did not come from one of the web app's own pages.

    The origin a request came from is its Origin header, else its Referer's (every current
    browser sends Origin on POST; the Referer covers the few that strip Origin on
    same-origin requests). Ours are the configured public origins plus the one the request
    came in on (scheme and Host), so a deployment reached on a second name keeps working.
    A request naming neither is refused too: a browser always names one on a POST from our
    pages, so only scripts and stripped requests come without, and they do not need the
    customer's cookie. This stands beside the CSRF token, not instead of it.
    """

    def __init__(
        self, app: ASGIApp, *, allowed: Iterable[str], reject: Reject = _plain_wrong_origin
    ) -> None:
        self.app = app
        self.allowed = frozenset(o for o in (origin_of(url) for url in allowed) if o is not None)
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        source = conn.headers.get("origin") or conn.headers.get("referer")
        came_from = origin_of(source) if source else None
        here = origin_of(f"{conn.url.scheme}://{conn.headers.get('host', '')}/")
        if came_from is None or came_from not in self.allowed | {here}:
            response = await self.reject(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _plain_forbidden(request: Request) -> Response:
    return PlainTextResponse("CSRF token missing or wrong.", status_code=403)


class CsrfMiddleware:
    """Refuses unsafe requests that do not echo the session's CSRF token.

    htmx sends the header (hx-headers on <body>); plain forms send the hidden field, for
    which the body is read here (up to `max_body_bytes`) and replayed to the app.
    """

    def __init__(
        self, app: ASGIApp, *, reject: Reject = _plain_forbidden, max_body_bytes: int = 1_000_000
    ) -> None:
        self.app = app
        self.reject = reject
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        session = get_session(HTTPConnection(scope))
        token = HTTPConnection(scope).headers.get(CSRF_HEADER)
        if token is None:
            body = await _read_body(receive, self.max_body_bytes)
            if body is None:
                await PlainTextResponse("Request body too large.", 413)(scope, receive, send)
                return
            token = await _form_token(scope, body)
            receive = _replay(body)
        if not session.csrf_valid(token):
            response = await self.reject(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = HTTPConnection(scope).headers.get("content-type", "").split(";")[0].strip()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    try:
        async with Request(scope, _replay(body)).form() as form:
            value = form.get(CSRF_FIELD)
    except (HTTPException, MultiPartException):
        # A body that does not parse as the form it claims to be carries no token.
        return None
    return value if isinstance(value, str) else None
