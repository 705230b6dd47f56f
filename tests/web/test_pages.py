"""The real web app: landing page, static files, error pages, CSRF and session behaviour."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from web.app import create_app
from web.client import ApiError
from web.errors import MESSAGES
from web.session import Session, SessionCodec
from web.settings import WebSettings

from .conftest import web_client


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.body_headers: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        for name in ("href", "src"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if tag == "body" and found.get("hx-headers"):
            self.body_headers = json.loads(str(found["hx-headers"]))


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


async def csrf_token(web: httpx.AsyncClient) -> str:
    return parse((await web.get("/")).text).body_headers["X-CSRF-Token"]


async def test_landing_page_speaks_to_each_audience(web: httpx.AsyncClient) -> None:
    response = await web.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert re.search(r"<h1[^>]*>\s*Receive, hold and send Bitcoin and USDT\.", html)
    for phrase in ("FOR CUSTOMERS", "FOR MERCHANTS", "FOR DEVELOPERS", "Pay a person", "API keys"):
        assert phrase in html
    assert '<html lang="en"' in html
    assert '<main id="main"' in html


async def test_the_landing_page_offers_only_what_works_today(web: httpx.AsyncClient) -> None:
    """What is not built yet is named as coming, never described as a feature."""
    html = (await web.get("/")).text
    for promise in ("STK", "Signed webhooks", "Point of sale", "hosted checkout page", "Cash out"):
        assert promise not in html, promise
    coming = re.search(r"Coming next, and not available yet:[^<]*", html)
    assert coming and "M&#8209;Pesa" in coming.group(0) and "invoices" in coming.group(0)


async def test_every_link_on_the_landing_page_leads_somewhere(
    web: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    page = parse((await web.get("/")).text)
    assert page.urls
    for url in page.urls:
        if url.startswith("#"):
            assert url[1:] in page.ids, url
        elif url.startswith("http://api.test/"):
            assert (await api.get(url.removeprefix("http://api.test"))).status_code == 200, url
        elif url.startswith("http://web.test/"):
            assert (await web.get(url)).status_code == 200, url
        else:
            assert url.startswith("/"), url
            assert (await web.get(url)).status_code == 200, url


async def test_pages_carry_security_headers_and_are_not_cached(web: httpx.AsyncClient) -> None:
    headers = (await web.get("/")).headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in headers  # only in production, over https


async def test_static_files_are_typed_and_versioned_ones_cached_for_good(
    web: httpx.AsyncClient,
) -> None:
    page = parse((await web.get("/")).text)
    css = next(url for url in page.urls if url.startswith("/static/css/app.css?v="))
    built = await web.get(css)
    assert built.status_code == 200, "run `make static` to build the CSS"
    assert built.headers["content-type"].startswith("text/css")
    assert built.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "tailwindcss" in built.text

    manifest = await web.get("/static/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    assert manifest.headers["cache-control"] == "no-cache"
    icons = manifest.json()["icons"]
    for icon in icons:
        served = await web.get(icon["src"])
        assert served.headers["content-type"] == "image/svg+xml"
    assert {icon["purpose"] for icon in icons} == {"any", "maskable"}


async def test_an_unknown_address_gets_the_404_page(web: httpx.AsyncClient) -> None:
    response = await web.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert 'href="/"' in response.text


async def test_a_post_without_the_csrf_token_gets_the_403_page(web: httpx.AsyncClient) -> None:
    await web.get("/")
    for attempt in ({"data": {"x": "1"}}, {"headers": {"X-CSRF-Token": "forged"}}):
        response = await web.post("/", **attempt)  # type: ignore[arg-type]
        assert response.status_code == 403
        assert "Please reload and try again" in response.text


async def test_a_post_with_the_csrf_token_reaches_the_router(web: httpx.AsyncClient) -> None:
    token = await csrf_token(web)
    by_header = await web.post("/", headers={"X-CSRF-Token": token})
    by_form = await web.post("/", data={"csrf_token": token})
    # The landing page takes no POST: passing CSRF is what lets the router say 405.
    assert (by_header.status_code, by_form.status_code) == (405, 405)


async def test_a_tampered_cookie_on_the_real_app_gets_a_fresh_session(
    web: httpx.AsyncClient,
) -> None:
    web.cookies.set("qpeapay_session", "AQ" + "A" * 80, domain="web.test")
    response = await web.get("/")
    assert response.status_code == 200
    (session,) = [c for c in response.headers.get_list("set-cookie") if "qpeapay_session" in c]
    assert session.startswith("qpeapay_session=A")
    assert "Max-Age=1209600" in session
    token = parse(response.text).body_headers["X-CSRF-Token"]
    assert (await web.post("/", headers={"X-CSRF-Token": token})).status_code == 405


async def test_flash_messages_show_once(
    web: httpx.AsyncClient, session_codec: SessionCodec
) -> None:
    session = Session()
    session.flash("Your invoice was created.", "success")
    web.cookies.set("qpeapay_session", session_codec.seal(session.dump()), domain="web.test")
    shown = await web.get("/")
    assert re.search(r'role="status"[^>]*>\s*<span>Your invoice was created\.</span>', shown.text)
    assert "Your invoice was created." not in (await web.get("/")).text


@pytest.fixture
async def app_with_failures(
    web_settings: WebSettings,
) -> AsyncIterator[tuple[Starlette, dict[str, Any]]]:
    """The real web app plus two test-only routes that fail the ways pages can fail."""

    async def crash(request: Request) -> None:
        raise RuntimeError("secret internals")

    async def limited(request: Request) -> None:
        raise ApiError.of(429, "rate_limit_error", "rate_limited", "Too many requests.")

    app = create_app(web_settings)
    app.router.routes.extend([Route("/_crash", crash), Route("/_limited", limited)])
    async with app.router.lifespan_context(app) as state:
        yield app, dict(state or {})


async def test_a_crash_shows_a_reference_and_no_internals(
    app_with_failures: tuple[Starlette, dict[str, Any]],
) -> None:
    async with web_client(app_with_failures, raise_app_exceptions=False) as client:
        response = await client.get("/_crash")
    assert response.status_code == 500
    assert re.search(r"<code[^>]*>err_[0-9a-z]{26}</code>", response.text)
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_an_unhandled_api_error_is_explained_in_plain_words(
    app_with_failures: tuple[Starlette, dict[str, Any]],
) -> None:
    async with web_client(app_with_failures) as client:
        page = await client.get("/_limited")
        fragment = await client.get("/_limited", headers={"HX-Request": "true"})
    assert page.status_code == 429
    assert MESSAGES["rate_limited"] in page.text
    assert "<html" in page.text

    assert fragment.status_code == 429
    assert fragment.headers["hx-retarget"] == "#flash"
    assert fragment.headers["hx-reswap"] == "innerHTML"
    assert "<html" not in fragment.text
    assert re.search(r'role="alert"[^>]*>\s*<span>Too many attempts', fragment.text)
