"""Passwords in a real browser: forgot password from the login page → code from the email →
new password → log in, on a phone; changing the password on the security page; and the
recovery codes copied, downloaded and printed (the printout holds the codes alone).
Screenshots land in var/test/screens/."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.async_api import expect
from sqlalchemy import select

from backend.notifications.models import Notification
from backend.runtime import Runtime
from contract.users import Role
from tests.identity import PASSWORD, Account, make_account

from .conftest import Tab

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Mvua-ya-jioni-Kisumu-42"
# The browser reports a form page answered with 400 (the wrong code or password we type on
# purpose); nothing else may go wrong.
REFUSED_FORM = (
    "console: Failed to load resource: the server responded with a status of 400 (Bad Request)"
)


async def emailed_reset_code(runtime: Runtime, email: str, deadline_s: float = 10) -> str:
    """The code from the reset email; it is written just after the page got its answer."""
    until = time.monotonic() + deadline_s
    while True:
        async with runtime.sessionmaker() as session:
            body = await session.scalar(
                select(Notification.body).where(
                    Notification.recipient == email, Notification.purpose == "password_reset"
                )
            )
        if body is not None:
            found = re.search(r"\b(\d{6})\b", body)
            assert found is not None
            return found.group(1)
        assert time.monotonic() < until, f"no reset email reached {email}"
        await asyncio.sleep(0.05)


async def log_in(tab: Tab, email: str, password: str) -> None:
    page = tab.page
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Log in").click()


async def signed_in(tab: Tab, account: Account) -> None:
    await tab.page.goto("/login")
    await log_in(tab, account.email, PASSWORD)
    await expect(tab.page).to_have_url(re.compile(r"/wallet$"))
    await tab.page.goto("/account/security")


async def test_forgot_password_on_a_phone(
    phone: Tab, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    page = phone.page
    await page.goto("/login")
    await page.get_by_role("link", name="Forgot password?").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    await page.get_by_label("Email", exact=True).fill(someone.email)
    await phone.screenshot("forgot-password")
    await page.get_by_role("button", name="Email me a code").click()
    await expect(page).to_have_url(re.compile(r"/login/reset$"))
    await expect(page.get_by_label("Email", exact=True)).to_have_value(someone.email)

    code = await emailed_reset_code(runtime, someone.email)
    await page.get_by_label("6-digit code from the email").fill(
        "000000" if code != "000000" else "111111"
    )
    await page.get_by_label("New password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Set new password").click()
    await expect(page.locator("#code-error")).to_contain_text("not right or has expired")
    await page.get_by_label("6-digit code from the email").fill(code)
    await page.get_by_label("New password").fill(NEW_PASSWORD)
    await phone.screenshot("reset-password")
    assert await phone.overflow_x() <= 0
    await page.get_by_role("button", name="Set new password").click()

    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_role("status").first).to_have_text(
        "Your password is changed. Log in with your new password."
    )
    await log_in(phone, someone.email, NEW_PASSWORD)
    await expect(page).to_have_url(re.compile(r"/wallet$"))
    # The session the account had before the reset has ended.
    assert (await api.get("/v1/me", headers=someone.headers)).status_code == 401
    assert phone.problems == [REFUSED_FORM]


async def test_changing_the_password_on_a_phone(
    phone: Tab, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    page = phone.page
    await signed_in(phone, someone)
    section = page.locator("section", has=page.get_by_role("heading", name="Password"))
    await section.get_by_label("Current password").fill("not my password")
    await section.get_by_label("New password").fill(NEW_PASSWORD)
    await section.get_by_role("button", name="Change password").click()
    await expect(page.locator("#current-password-error")).to_have_text(
        "That is not your current password."
    )
    await section.get_by_label("Current password").fill(PASSWORD)
    await section.get_by_label("New password").fill(NEW_PASSWORD)
    await section.get_by_role("button", name="Change password").click()
    await expect(page.get_by_role("status").first).to_have_text(
        "Your password is changed. We signed out 1 other device."
    )
    await phone.screenshot("password-changed")
    assert await phone.overflow_x() <= 0
    # This browser is still signed in; the other session is not.
    await page.goto("/account")
    await expect(page).to_have_url(re.compile(r"/account$"))
    assert (await api.get("/v1/me", headers=someone.headers)).status_code == 401
    assert phone.problems == [REFUSED_FORM]


async def recovery_codes_tools(tab: Tab, api: httpx.AsyncClient, runtime: Runtime) -> None:
    someone = await make_account(api, runtime, Role.customer)
    page = tab.page
    # Stands in for the browser's print dialog, which a headless browser cannot show.
    await page.add_init_script("window.print = () => { window.printed = true; };")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await signed_in(tab, someone)
    await page.get_by_role("button", name="Set up two-factor").click()
    totp = pyotp.TOTP((await page.locator("#totp-secret").inner_text()).strip())
    await page.get_by_label("6-digit code").fill(totp.now())
    await page.get_by_role("button", name="Turn on two-factor").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    items = page.locator("#recovery-codes li")
    await expect(items).to_have_count(10)
    await tab.screenshot("recovery-codes-tools")
    codes = [code.strip() for code in await items.all_inner_texts()]

    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == "\n".join(codes)

    async with page.expect_download() as started:
        await page.get_by_role("link", name="Download").click()
    download = await started.value
    assert download.suggested_filename == "qpeapay-recovery-codes.txt"
    saved = await download.path()
    text = await asyncio.to_thread(Path(saved).read_text)
    assert someone.email in text
    assert [line for line in text.splitlines() if line in codes] == codes

    await page.get_by_role("button", name="Print").click()
    assert await page.evaluate("window.printed === true")
    await page.emulate_media(media="print")
    await expect(page.get_by_text("Qpeapay recovery codes")).to_be_visible()
    await expect(items.first).to_be_visible()
    for hidden in (
        page.get_by_role("banner"),
        page.get_by_role("navigation", name="Account sections"),
        page.get_by_role("heading", level=1),
        page.get_by_role("button", name="Print"),
        page.get_by_role("link", name="I have saved them"),
        page.get_by_role("contentinfo"),
    ):
        await expect(hidden).to_be_hidden()
    await tab.screenshot("recovery-codes-print")
    await page.emulate_media(media="screen")
    assert await tab.overflow_x() <= 0
    assert tab.problems == []


async def test_recovery_codes_tools_on_a_phone(
    phone: Tab, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await recovery_codes_tools(phone, api, runtime)


async def test_recovery_codes_tools_on_a_desktop(
    desktop: Tab, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await recovery_codes_tools(desktop, api, runtime)
