"""The cookie session and CSRF middleware, on a small test-only app that mounts the real
middleware, and on the real web app."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from web.session import (
    ACCESS_TOKEN,
    CsrfMiddleware,
    Session,
    SessionCodec,
    SessionKey,
    SessionMiddleware,
    SessionTooLarge,
    get_session,
)

SECRET = "unit-test-secret-0123456789abcdef0123456789"
COUNT: SessionKey[int] = SessionKey("count", int)


async def form_page(request: Request) -> Response:
    return PlainTextResponse(get_session(request).csrf_token())


async def submit(request: Request) -> Response:
    form = await request.form()
    return JSONResponse({"note": form.get("note")})


async def count(request: Request) -> Response:
    session = get_session(request)
    session.set(COUNT, (session.get(COUNT) or 0) + 1)
    return JSONResponse({"count": session.get(COUNT)})


async def sign_out(request: Request) -> Response:
    get_session(request).clear()
    return PlainTextResponse("bye")


def guarded_app(*, secure: bool = False) -> Starlette:
    return Starlette(
        routes=[
            Route("/form", form_page),
            Route("/submit", submit, methods=["POST"]),
            Route("/count", count),
            Route("/sign-out", sign_out, methods=["POST"]),
        ],
        middleware=[
            Middleware(SessionMiddleware, secret=SECRET, max_age_s=3600, secure=secure),
            Middleware(CsrfMiddleware),
        ],
    )


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://guarded.test") as client:
        yield client


# --- the sealed cookie ---------------------------------------------------------------


def test_codec_round_trips_values() -> None:
    codec = SessionCodec(SECRET, 3600, "c")
    values = {"access_token": "tok", "n": 3, "flags": [True, None]}
    assert codec.open(codec.seal(values)) == values


def test_codec_refuses_tampered_foreign_expired_and_garbage_cookies() -> None:
    codec = SessionCodec(SECRET, 3600, "c")
    sealed = codec.seal({"access_token": "tok"}, now=1_000_000)
    raw = bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    raw[20] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()

    assert codec.open(sealed, now=1_000_000) == {"access_token": "tok"}
    assert codec.open(tampered, now=1_000_000) is None
    assert SessionCodec("another-secret-0123456789abcdef", 3600, "c").open(sealed) is None
    assert SessionCodec(SECRET, 3600, "other-cookie").open(sealed, now=1_000_000) is None
    assert codec.open(sealed, now=1_000_000 + 3600) is None
    for garbage in ("", "x", "!!!", "AQ", sealed[:30], "é"):
        assert codec.open(garbage) is None


def test_codec_refuses_to_seal_a_session_browsers_would_drop() -> None:
    with pytest.raises(SessionTooLarge):
        SessionCodec(SECRET, 3600, "c").seal({"blob": "x" * 4000})


def test_typed_keys_ignore_values_of_the_wrong_type() -> None:
    session = Session({"count": "three", "access_token": "tok"})
    assert session.get(COUNT) is None
    assert session.get(ACCESS_TOKEN) == "tok"
    assert session.pop(ACCESS_TOKEN) == "tok"
    assert session.get(ACCESS_TOKEN) is None
    assert session.modified


def test_flashes_are_shown_once() -> None:
    session = Session()
    session.flash("Saved.", "success")
    session.flash("Check the amount.", "error")
    assert [(f.level, f.message) for f in session.take_flashes()] == [
        ("success", "Saved."),
        ("error", "Check the amount."),
    ]
    assert session.take_flashes() == []


def test_csrf_tokens_are_masked_per_render_and_bound_to_the_session() -> None:
    session, other = Session(), Session()
    first, second = session.csrf_token(), session.csrf_token()
    other.csrf_token()
    assert first != second
    assert session.csrf_valid(first) and session.csrf_valid(second)
    assert not other.csrf_valid(first)
    assert not session.csrf_valid(first[:-2])
    assert not session.csrf_valid("")
    assert not session.csrf_valid(None)
    session.clear()
    assert not session.csrf_valid(first)


# --- the middleware --------------------------------------------------------------------


async def test_session_persists_in_an_httponly_samesite_cookie(
    browser: httpx.AsyncClient,
) -> None:
    first = await browser.get("/count")
    second = await browser.get("/count")
    assert (first.json(), second.json()) == ({"count": 1}, {"count": 2})
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("qpeapay_session=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"):
        assert attribute in cookie
    assert "Secure" not in cookie


async def test_secure_deployments_use_a_host_only_secure_cookie() -> None:
    transport = httpx.ASGITransport(app=guarded_app(secure=True))
    async with httpx.AsyncClient(transport=transport, base_url="https://guarded.test") as client:
        response = await client.get("/count")
        assert (await client.get("/count")).json() == {"count": 2}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-qpeapay=")
    assert "; Secure" in cookie


async def test_a_tampered_cookie_gets_a_fresh_session(browser: httpx.AsyncClient) -> None:
    await browser.get("/count")
    sealed = browser.cookies["qpeapay_session"]
    forged = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    browser.cookies.set("qpeapay_session", forged, domain="guarded.test")
    response = await browser.get("/count")
    assert response.status_code == 200
    assert response.json() == {"count": 1}


async def test_an_unreadable_cookie_is_deleted_when_nothing_replaces_it(
    browser: httpx.AsyncClient,
) -> None:
    browser.cookies.set("qpeapay_session", "not-a-session", domain="guarded.test")
    response = await browser.post("/sign-out")  # refused by CSRF, but the cookie still goes
    assert response.status_code == 403
    assert response.headers["set-cookie"].startswith("qpeapay_session=; Path=/; Max-Age=0;")


async def test_unsafe_requests_without_a_token_are_refused(browser: httpx.AsyncClient) -> None:
    await browser.get("/form")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = await browser.request(method, "/submit", data={"note": "hi"})
        assert response.status_code == 403, method
    refused = await browser.post("/submit", json={"csrf_token": "whatever"})
    assert refused.status_code == 403


async def test_a_wrong_token_is_refused(browser: httpx.AsyncClient) -> None:
    token = (await browser.get("/form")).text
    wrong = token[:-3] + ("abc" if not token.endswith("abc") else "xyz")
    by_form = await browser.post("/submit", data={"note": "hi", "csrf_token": wrong})
    by_header = await browser.post("/submit", headers={"X-CSRF-Token": wrong})
    assert (by_form.status_code, by_header.status_code) == (403, 403)


async def test_a_token_from_another_session_is_refused(browser: httpx.AsyncClient) -> None:
    transport = httpx.ASGITransport(app=guarded_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://guarded.test") as other:
        theirs = (await other.get("/form")).text
    await browser.get("/form")
    response = await browser.post("/submit", data={"note": "hi", "csrf_token": theirs})
    assert response.status_code == 403


async def test_the_form_field_passes_and_the_handler_still_reads_the_body(
    browser: httpx.AsyncClient,
) -> None:
    token = (await browser.get("/form")).text
    response = await browser.post("/submit", data={"note": "hi", "csrf_token": token})
    assert response.status_code == 200
    assert response.json() == {"note": "hi"}


async def test_a_multipart_form_passes_with_the_field(browser: httpx.AsyncClient) -> None:
    token = (await browser.get("/form")).text
    response = await browser.post(
        "/submit",
        data={"note": "with file", "csrf_token": token},
        files={"doc": ("id.txt", b"scan", "text/plain")},
    )
    assert response.status_code == 200
    assert response.json() == {"note": "with file"}


async def test_the_htmx_header_passes(browser: httpx.AsyncClient) -> None:
    token = (await browser.get("/form")).text
    response = await browser.post(
        "/submit", data={"note": "via htmx"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 200
    assert response.json() == {"note": "via htmx"}


async def test_clearing_the_session_retires_its_tokens(browser: httpx.AsyncClient) -> None:
    token = (await browser.get("/form")).text
    assert (await browser.post("/sign-out", headers={"X-CSRF-Token": token})).text == "bye"
    response = await browser.post("/submit", headers={"X-CSRF-Token": token})
    assert response.status_code == 403


# --- where a state-changing request came from (the real web app) -----------------------


async def _login_attempt(web: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    """A correct CSRF token, a wrong password: 403 means refused before the page ran."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', (await web.get("/login")).text)
    assert token is not None
    data = {"email": "someone@example.test", "password": "wrong", "csrf_token": token.group(1)}
    web.headers.pop("origin", None)
    return await web.post("/login", data=data, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://web.test.evil.example"},
        {"Origin": "https://web.test"},  # another scheme is another origin
        {"Origin": "null"},
        {"Referer": "https://evil.example/pay"},
        {"Origin": "https://evil.example", "Referer": "http://web.test/login"},
        {},
    ],
)
async def test_a_state_change_from_another_origin_or_from_nowhere_is_refused(
    web: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    refused = await _login_attempt(web, headers)

    assert refused.status_code == 403
    assert "This form did not come from Qpeapay" in refused.text
    assert "Open Qpeapay yourself, then try again." in refused.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://web.test"},
        {"Origin": "HTTP://WEB.TEST:80"},
        {"Referer": "http://web.test/login?next=/wallet"},  # no Origin: its Referer counts
    ],
)
async def test_a_state_change_from_our_own_pages_goes_through(
    web: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    answered = await _login_attempt(web, headers)

    assert answered.status_code != 403, answered.text  # the login page itself answered
    assert "did not come from Qpeapay" not in answered.text


async def test_the_host_a_request_came_in_on_counts_as_ours_and_only_that_one(
    web: httpx.AsyncClient,
) -> None:
    other_name = {"Host": "pay.example.test", "Origin": "http://pay.example.test"}
    mixed = {"Host": "pay.example.test", "Origin": "http://elsewhere.example.test"}

    assert (await _login_attempt(web, other_name)).status_code != 403
    assert (await _login_attempt(web, mixed)).status_code == 403


async def test_the_csrf_token_is_still_needed_from_our_own_origin(web: httpx.AsyncClient) -> None:
    await web.get("/login")
    response = await web.post(
        "/login", data={"email": "a@example.test", "password": "x", "csrf_token": "forged"}
    )

    assert response.status_code == 403
    assert "This form has expired or did not come from Qpeapay" in response.text
