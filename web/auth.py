"""Signing in on the web: register, log in (with the 2FA step), log out, the transparent
token refresh, and `login_required` for every page that needs a signed-in person.

Invariants: API tokens live only in the encrypted session cookie; the session is cleared
(CSRF secret included) whenever the signed-in identity changes; the password typed at the
first login step is held in that encrypted session for at most five minutes while the
2FA code is asked for, never in the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote, urlsplit

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from contract import wire
from contract.auth import LoginRequest, RefreshRequest, TokenPair
from contract.ids import looks_like_id
from contract.users import RegisterRequest, RegistrationAccepted, Role, User
from web.client import ApiClient, ApiError, api
from web.errors import message_for
from web.session import ACCESS_TOKEN, REFRESH_TOKEN, Session, SessionKey, get_session
from web.templating import render

PENDING_LOGIN: SessionKey[dict] = SessionKey("pending_login", dict)  # type: ignore[type-arg]  # session values are JSON objects of any shape
PENDING_TTL_S = 300
# With no `next`, login lands by role: customers on their wallet, everyone else on the
# account pages (a wallet is not what a merchant or an admin came for first).
HOMES = {Role.customer: "/wallet"}
ACCOUNT = "/account"

# A rotated refresh token is spent; two requests from one browser that both found the
# access token expired would otherwise both present it, and the second would look like
# theft and end the session. The first exchange's answer is shared for a short while.
_REFRESH_GRACE_S = 30
_refreshed: dict[str, tuple[float, TokenPair | None]] = {}
_refresh_locks: dict[str, asyncio.Lock] = {}


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def refresh_tokens(client: ApiClient) -> bool:
    """The client's refresh hook: swap the session's refresh token for a new pair."""
    session = client.session
    token = session.get(REFRESH_TOKEN) if session else None
    if session is None or token is None:
        return False
    key = _fingerprint(token)
    lock = _refresh_locks.setdefault(key, asyncio.Lock())
    async with lock:
        now = time.monotonic()
        for stale in [k for k, (at, _) in _refreshed.items() if now - at > _REFRESH_GRACE_S]:
            _refreshed.pop(stale, None)
            _refresh_locks.pop(stale, None)
        if key in _refreshed:
            pair = _refreshed[key][1]
        else:
            try:
                pair = await client.post(
                    "/v1/auth/refresh", TokenPair, RefreshRequest(refresh_token=token), auth=False
                )
            except ApiError:
                pair = None
            _refreshed[key] = (now, pair)
    if pair is None:
        session.pop(ACCESS_TOKEN)
        session.pop(REFRESH_TOKEN)
        return False
    _store(session, pair)
    return True


def _store(session: Session, pair: TokenPair) -> None:
    session.set(ACCESS_TOKEN, pair.access_token)
    session.set(REFRESH_TOKEN, pair.refresh_token)


def _sign_in(session: Session, pair: TokenPair) -> None:
    session.clear()
    _store(session, pair)


def home_for(role: Role) -> str:
    return HOMES.get(role, ACCOUNT)


def safe_next(target: str | None) -> str:
    """Only same-site paths: `next=https://evil.example` must not bounce a person away.
    "" means no target: the person lands on their home (`_landing`)."""
    if not target:
        return ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return ""
    return target


async def _landing(request: Request, target: str) -> RedirectResponse:
    """After signing in: the page asked for, else the person's home by role."""
    if not target:
        target = home_for((await api(request).get("/v1/me", User)).role)
    return RedirectResponse(target, status_code=303)


def field_errors(error: ApiError) -> dict[str, str]:
    """The API's error as {field: message} for the form, or {"form": message}."""
    param = error.error.param
    message = message_for(error)
    if param and error.status in (400, 409, 422):
        message = error.error.message.removeprefix(f"{param}: ")
        return {param.split(".")[0]: message}
    return {"form": message}


PageHandler = Callable[[Request, User], Awaitable[Response]]


def login_required(
    *roles: Role,
) -> Callable[[PageHandler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a page that needs a signed-in person (of `roles`, when given); it receives the
    user from GET /v1/me. Anyone else is sent to the login page and back afterwards."""

    def decorate(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def page(request: Request) -> Response:
            session = get_session(request)
            back = quote(request.url.path, safe="/")
            if session.get(ACCESS_TOKEN) is None:
                return RedirectResponse(f"/login?next={back}", status_code=303)
            try:
                user = await api(request).get("/v1/me", User)
            except ApiError as error:
                if error.status != 401:
                    raise
                session.clear()
                session.flash("Your session has ended. Please sign in again.", "info")
                return RedirectResponse(f"/login?next={back}", status_code=303)
            if roles and user.role not in roles:
                session.flash("That page is for another kind of account.", "error")
                return RedirectResponse(home_for(user.role), status_code=303)
            return await handler(request, user)

        return page

    return decorate


async def form_items(request: Request) -> list[tuple[str, str]]:
    """Every text field the form submitted, in order. A form whose text holds NUL, another
    control character or a lone surrogate is refused with a 400 page: no field of ours takes
    them, and the API would refuse them anyway."""
    async with request.form() as form:
        items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    for name, value in items:
        if wire.unsafe_character(name, single_line=True) or wire.unsafe_character(value):
            raise HTTPException(400, "The form holds characters we cannot accept.")
    return items


def path_id(request: Request, name: str) -> str:
    """An id from the page's path, to be put in an API path: anything not shaped like one of
    our ids (NUL, `..`, thousands of characters) is no page of ours."""
    value = str(request.path_params[name])
    if not looks_like_id(value):
        raise HTTPException(404)
    return value


async def form_fields(request: Request) -> dict[str, str]:
    """The submitted form's text fields (the last value of each)."""
    return dict(await form_items(request))


def page_status(error: ApiError) -> int:
    """The status a page shows for an API refusal: the API's 4xx, or 502 for its failures."""
    return error.status if error.status < 500 else 502


async def register_page(request: Request) -> Response:
    if get_session(request).get(ACCESS_TOKEN) is not None:
        # Signing up while signed in would silently switch accounts: go home instead.
        try:
            return await _landing(request, "")
        except ApiError as error:
            if error.status != 401:
                raise
    kind = request.query_params.get("as", "customer")
    values = {"account_type": kind if kind in ("customer", "merchant") else "customer"}
    return render(request, "auth/register.html", {"values": values, "errors": {}})


async def register(request: Request) -> Response:
    form = await form_fields(request)
    values = {k: form.get(k, "") for k in ("email", "phone", "account_type", "business_name")}
    client = api(request)
    try:
        body = RegisterRequest.model_validate(
            {
                **values,
                "password": form.get("password", ""),
                "business_name": values["business_name"] or None,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        param = str(first["loc"][0]) if first["loc"] else "form"
        return render(
            request,
            "auth/register.html",
            {"values": values, "errors": {param: first["msg"]}},
            status_code=422,
        )
    try:
        accepted = await client.post("/v1/auth/register", RegistrationAccepted, body, auth=False)
    except ApiError as error:
        return render(
            request,
            "auth/register.html",
            {"values": values, "errors": field_errors(error)},
            status_code=page_status(error),
        )
    try:
        pair = await client.post(
            "/v1/auth/login",
            TokenPair,
            LoginRequest(email=body.email, password=body.password),
            auth=False,
        )
    except ApiError as error:
        if error.code in ("invalid_credentials", "otp_required"):
            # The email already had an account (its owner was told by email): say only
            # what the API said, so this page tells a stranger nothing more.
            session = get_session(request)
            session.flash(f"{accepted.message} We wrote to {accepted.email}.", "info")
            return RedirectResponse("/login", status_code=303)
        status = page_status(error)
        return render(
            request,
            "auth/register.html",
            {"values": values, "errors": field_errors(error)},
            status_code=status,
        )
    session = get_session(request)
    _sign_in(session, pair)
    session.flash("Welcome to Qpeapay. We sent codes to your email and phone.", "success")
    return RedirectResponse("/account/verify", status_code=303)


async def login_page(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    if get_session(request).get(ACCESS_TOKEN) is not None:
        # Already signed in (the logo, the landing page, a bookmark): go on, don't ask again.
        try:
            return await _landing(request, target)
        except ApiError as error:
            if error.status != 401:
                raise
    context = {"values": {}, "errors": {}, "next": target}
    return render(request, "auth/login.html", context)


def _pending(session: Session) -> dict[str, str] | None:
    pending = session.get(PENDING_LOGIN)
    if not pending or time.time() - float(pending.get("at", 0)) > PENDING_TTL_S:
        session.pop(PENDING_LOGIN)
        return None
    return pending


async def login(request: Request) -> Response:
    form = await form_fields(request)
    email, password = form.get("email", ""), form.get("password", "")
    target = safe_next(form.get("next"))
    session = get_session(request)
    context = {"values": {"email": email}, "next": target}
    try:
        credentials = LoginRequest(email=email, password=password)
    except ValidationError:
        return render(
            request,
            "auth/login.html",
            {**context, "errors": {"form": "Enter your email and password."}},
            status_code=422,
        )
    try:
        pair = await api(request).post("/v1/auth/login", TokenPair, credentials, auth=False)
    except ApiError as error:
        if error.code == "otp_required":
            session.set(
                PENDING_LOGIN,
                {
                    "email": credentials.email,
                    "password": password,
                    "next": target,
                    "at": time.time(),
                },
            )
            return RedirectResponse("/login/2fa", status_code=303)
        return render(
            request,
            "auth/login.html",
            {**context, "errors": {"form": message_for(error)}},
            status_code=page_status(error),
        )
    _sign_in(session, pair)
    return await _landing(request, target)


async def two_factor_page(request: Request) -> Response:
    if _pending(get_session(request)) is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "auth/two_factor.html", {"errors": {}})


async def two_factor(request: Request) -> Response:
    session = get_session(request)
    pending = _pending(session)
    if pending is None:
        session.flash("That took too long. Please sign in again.", "info")
        return RedirectResponse("/login", status_code=303)
    code = (await form_fields(request)).get("otp", "").strip()
    try:
        pair = await api(request).post(
            "/v1/auth/login",
            TokenPair,
            LoginRequest(email=pending["email"], password=pending["password"], otp=code or None),
            auth=False,
        )
    except ApiError as error:
        if error.code in ("otp_invalid", "otp_required"):
            message = "That code is not right. Try the newest code in your app."
        else:
            message = message_for(error)
        return render(
            request,
            "auth/two_factor.html",
            {"errors": {"otp": message}},
            status_code=page_status(error),
        )
    _sign_in(session, pair)
    return await _landing(request, safe_next(pending.get("next")))


async def logout(request: Request) -> Response:
    session = get_session(request)
    if session.get(ACCESS_TOKEN) is not None:
        # The session ends here either way; an unreachable API only delays revocation.
        with contextlib.suppress(ApiError):
            await api(request).call("POST", "/v1/auth/logout", None)
    session.clear()
    session.flash("You are signed out.", "success")
    return RedirectResponse("/login", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/register", register_page, methods=["GET"], name="register"),
    Route("/register", register, methods=["POST"]),
    Route("/login", login_page, methods=["GET"], name="login"),
    Route("/login", login, methods=["POST"]),
    Route("/login/2fa", two_factor_page, methods=["GET"], name="login_2fa"),
    Route("/login/2fa", two_factor, methods=["POST"]),
    Route("/logout", logout, methods=["POST"], name="logout"),
]
