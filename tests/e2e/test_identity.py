"""Identity in a real browser, on a phone and a desktop: register → verify the phone with
the code from the dev outbox → log out and in → turn on 2FA → log out → log in with a
TOTP code computed from the secret the page shows. Screenshots land in var/test/screens/."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pyotp
import pytest
from playwright.async_api import Locator, Page, expect

from backend.runtime import Runtime
from contract.users import Role
from tests.identity import PASSWORD as ACCOUNT_PASSWORD
from tests.identity import make_account

from .conftest import Tab

pytestmark = pytest.mark.browser

PASSWORD = "Chai-na-mandazi-asubuhi"


def tab_link(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation", name="Account sections").get_by_role("link", name=name)


def nav_link(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation", name="Signed in").get_by_role("link", name=name)


async def register(tab: Tab, email: str, *, merchant: bool) -> None:
    page = tab.page
    await page.goto("/register")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    business = page.get_by_label("Business name")
    if merchant:
        await page.get_by_text("Get paid", exact=True).click()
        await expect(business).to_be_visible()
        await business.fill("Kiosk ya Mama Wanjiru")
    else:
        await page.get_by_text("Use crypto", exact=True).click()
        await expect(business).to_be_hidden()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("M-Pesa phone number").fill("0712 345 678")
    await page.get_by_label("Password").fill(PASSWORD)
    await tab.screenshot("register")
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(re.compile(r"/account/verify$"))
    await expect(page.get_by_role("status").first).to_contain_text("We sent codes")


async def verify_phone(tab: Tab) -> None:
    page = tab.page
    await tab.screenshot("verify")
    await page.get_by_role("link", name="message outbox").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Message outbox")
    sms = page.locator("[data-purpose=verify_phone]").first
    body = await sms.inner_text()
    code = re.search(r"\b(\d{6})\b", body)
    assert code is not None
    await tab.screenshot("outbox")
    await page.get_by_role("link", name="Back to verification").click()
    phone = page.locator("#verify-phone")
    await phone.get_by_label("6-digit code we sent by SMS").fill(code.group(1))
    await phone.get_by_role("button", name="Verify phone").click()
    await expect(page.get_by_role("status").first).to_have_text("Phone number verified.")
    await expect(page.locator("#verify-phone")).to_contain_text("Verified")


async def log_out(tab: Tab) -> None:
    await tab.page.get_by_role("button", name="Log out").click()
    await expect(tab.page).to_have_url(re.compile(r"/login$"))
    await expect(tab.page.get_by_role("status").first).to_have_text("You are signed out.")


async def log_in(tab: Tab, email: str) -> None:
    page = tab.page
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()


async def enable_two_factor(tab: Tab) -> pyotp.TOTP:
    page = tab.page
    await tab_link(page, "Security").click()
    await page.get_by_role("button", name="Set up two-factor").click()
    await expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    totp = pyotp.TOTP((await page.locator("#totp-secret").inner_text()).strip())
    await tab.screenshot("2fa-setup")
    await page.get_by_label("6-digit code").fill(totp.now())
    await page.get_by_role("button", name="Turn on two-factor").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    await expect(page.locator("#recovery-codes li")).to_have_count(10)
    await tab.screenshot("recovery-codes")
    await page.get_by_role("link", name="I have saved them").click()
    await expect(page.locator("section").first).to_contain_text("On")
    return totp


async def journey(tab: Tab, *, merchant: bool) -> None:
    email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    # Customers land on their wallet, merchants on their account; one header reaches both.
    home = re.compile(r"/account$" if merchant else r"/wallet$")
    await register(tab, email, merchant=merchant)
    await verify_phone(tab)
    await log_out(tab)
    await tab.screenshot("login")
    await log_in(tab, email)
    await expect(tab.page).to_have_url(home)
    await tab.screenshot("home")
    await nav_link(tab.page, "Account").click()
    await expect(tab.page).to_have_url(re.compile(r"/account$"))
    totp = await enable_two_factor(tab)
    await log_out(tab)
    await log_in(tab, email)
    await expect(tab.page).to_have_url(re.compile(r"/login/2fa$"))
    await tab.screenshot("login-2fa")
    # The code for the next time step: the current one was spent turning 2FA on.
    await tab.page.get_by_label("Authentication code").fill(totp.at(time.time() + totp.interval))
    await tab.page.get_by_role("button", name="Verify and log in").click()
    await expect(tab.page).to_have_url(home)
    await nav_link(tab.page, "Account").click()
    await expect(tab.page.get_by_text("2FA on")).to_be_visible()
    assert await tab.overflow_x() <= 0
    assert tab.problems == []


async def test_customer_journey_on_a_phone(phone: Tab, runtime: Runtime) -> None:
    await journey(phone, merchant=False)


async def test_merchant_journey_on_a_desktop_and_an_api_key(desktop: Tab, runtime: Runtime) -> None:
    await journey(desktop, merchant=True)
    page = desktop.page
    await tab_link(page, "API keys").click()
    await page.get_by_label("Name").fill("Online shop")
    await page.get_by_role("button", name="Create key").click()
    secret = await page.locator("#new-secret").input_value()
    assert secret.startswith("qp_test_")
    await expect(page.get_by_role("list", name="API keys")).to_contain_text(secret[:12])
    await desktop.screenshot("api-keys")
    await tab_link(page, "Devices").click()
    await expect(page.get_by_text("This device")).to_be_visible()
    # The API saw the browser, not the web server that relayed its requests.
    await expect(page.get_by_role("list", name="Signed-in devices")).to_contain_text("Chrome on")
    await desktop.screenshot("devices")
    assert desktop.problems == []


async def test_a_merchant_header_stays_on_one_line_on_a_phone(
    phone: Tab, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    # Wallet, Account, API keys and Log out wrapped onto two lines at 390 px.
    merchant = await make_account(api, runtime, Role.merchant)
    page = phone.page
    await page.goto("/login")
    await page.get_by_label("Email").fill(merchant.email)
    await page.get_by_label("Password").fill(ACCOUNT_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/account$"))
    nav = page.get_by_role("navigation", name="Signed in")
    await expect(nav_link(page, "Wallet")).to_be_visible()
    box = await nav.bounding_box()
    assert box is not None and box["height"] <= 40, box
    await tab_link(page, "API keys").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    assert await phone.overflow_x() <= 0
    await phone.screenshot("merchant-phone-header")
