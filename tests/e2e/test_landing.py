"""The landing page in a real browser: it fits a phone, Tailwind and htmx load, nothing
errors, and htmx requests carry the CSRF token. Screenshots land in var/test/screens/."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from .conftest import PHONE, Tab

pytestmark = pytest.mark.browser

HEADLINE = "Receive, hold and send Bitcoin and USDT."
TITLE = "Qpeapay · Bitcoin and USDT wallets for Kenya"
BRAND_700 = "rgb(4, 120, 87)"


async def open_landing(tab: Tab) -> None:
    response = await tab.page.goto("/", wait_until="networkidle")
    assert response is not None and response.status == 200
    await expect(tab.page.get_by_role("heading", level=1)).to_have_text(HEADLINE)
    await expect(tab.page).to_have_title(TITLE)


async def assert_styled(tab: Tab) -> None:
    """Computed styles that only the built Tailwind CSS produces."""
    headline = tab.page.get_by_role("heading", level=1)
    assert await headline.evaluate("el => getComputedStyle(el).fontWeight") == "800"
    cta = tab.page.get_by_role("link", name="Open a wallet")
    assert await cta.evaluate("el => getComputedStyle(el).backgroundColor") == BRAND_700
    assert await tab.page.evaluate("htmx.config.allowEval === false")
    scripts = await tab.page.evaluate(
        "performance.getEntriesByType('resource')"
        ".filter(e => e.initiatorType === 'script' && e.responseStatus === 200)"
        ".map(e => new URL(e.name).pathname)"
    )
    assert sorted(scripts) == ["/static/js/vendor/htmx.min.js", "/static/js/vendor/sse.min.js"]


async def test_landing_fits_a_phone(phone: Tab) -> None:
    await open_landing(phone)
    assert await phone.overflow_x() <= 0
    await assert_styled(phone)

    # One column: the wallet picture sits below the headline, full width.
    headline = await phone.page.get_by_role("heading", level=1).bounding_box()
    picture = await phone.page.locator("figure").first.bounding_box()
    assert headline is not None and picture is not None
    assert picture["y"] > headline["y"] + headline["height"]
    assert picture["x"] + picture["width"] <= PHONE["width"]
    # The section links are desktop-only; the page still scrolls to every section.
    await expect(phone.page.get_by_role("navigation", name="Sections")).to_be_hidden()
    await phone.page.get_by_role("link", name="Build with the API").click()
    await expect(phone.page.get_by_role("heading", name="One JSON API")).to_be_in_viewport()

    await phone.screenshot("landing")
    assert phone.problems == []


async def test_landing_on_a_desktop(desktop: Tab) -> None:
    await open_landing(desktop)
    assert await desktop.overflow_x() <= 0
    await assert_styled(desktop)

    # Two columns: the picture sits beside the headline.
    headline = await desktop.page.get_by_role("heading", level=1).bounding_box()
    picture = await desktop.page.locator("figure").first.bounding_box()
    assert headline is not None and picture is not None
    assert picture["x"] > headline["x"] + headline["width"]
    await expect(desktop.page.get_by_role("navigation", name="Sections")).to_be_visible()

    await desktop.screenshot("landing")
    assert desktop.problems == []


async def test_keyboard_users_can_skip_to_the_content(desktop: Tab) -> None:
    await open_landing(desktop)
    await desktop.page.keyboard.press("Tab")
    skip = desktop.page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_in_viewport()
    await desktop.page.keyboard.press("Enter")
    assert desktop.page.url.endswith("#main")


async def test_htmx_requests_carry_the_csrf_token(phone: Tab) -> None:
    await open_landing(phone)
    async with phone.page.expect_response(lambda r: r.request.method == "POST") as answer:
        await phone.page.evaluate("htmx.ajax('POST', '/', {source: document.body})")
    response = await answer.value
    assert response.request.headers.get("x-csrf-token")
    # Past CSRF (a 403 otherwise), the router refuses the method; htmx shows that fragment.
    assert response.status == 405
    await expect(phone.page.locator("#flash [role=alert]")).to_have_text("Method Not Allowed")
    await phone.screenshot("htmx-error", full_page=False)
    unexpected = [p for p in phone.problems if "status of 405" not in p]
    assert unexpected == []
