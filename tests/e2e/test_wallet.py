"""The wallet in a real browser on a 390x844 phone: a signed-in customer sees their balance,
opens Receive (address, QR, copy), sends to another user through the confirmation step
that shows the fee and total, and finds it in the activity. Screenshots land in
var/test/screens/."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from backend.keys import signer
from backend.runtime import Runtime
from contract.money import Asset, Network
from tests.backend.wallets.support import credit
from tests.identity import PASSWORD, make_account
from tests.rates_feed import RatesFeed

from .conftest import PHONE, Tab

pytestmark = pytest.mark.browser


async def fits(tab: Tab) -> None:
    assert await tab.overflow_x() <= 0, f"{tab.page.url} is wider than the phone"


async def test_a_customer_receives_and_sends_on_a_phone(
    phone: Tab, api: httpx.AsyncClient, runtime: Runtime, rates_feed: RatesFeed,
    master_seed: signer.SeedInfo,
) -> None:  # fmt: skip
    customer = await make_account(api, runtime)
    friend = await make_account(api, runtime)
    await credit(runtime, customer.user_id, "250", Asset.USDT, Network.tron)
    await credit(runtime, customer.user_id, "0.0042", Asset.BTC, Network.bitcoin)
    page = phone.page

    # Sign in and land on the wallet.
    await page.goto("/login?next=/wallet")
    await page.get_by_label("Email").fill(customer.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/wallet$"))
    usdt = page.locator('[data-asset="USDT"]')
    await expect(usdt.locator("[data-available]")).to_have_text("250.00")
    await expect(usdt).to_contain_text("≈ KES")
    await expect(page.locator('[data-asset="BTC"] [data-available]')).to_have_text("0.0042")
    await fits(phone)
    await phone.screenshot("wallet-balances")

    # Receive: the address, its QR code, and a copy button that answers.
    await page.get_by_role("link", name="Receive", exact=True).first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Receive")
    address = await page.locator("#deposit-address").inner_text()
    assert address.startswith("T") and len(address) == 34
    qr = page.get_by_role("img", name=re.compile("QR code"))
    box = await qr.bounding_box()
    assert box is not None and box["width"] >= 180 and box["x"] + box["width"] <= PHONE["width"]
    await page.get_by_role("button", name="Copy").click()
    await expect(page.locator("[data-copy-label]")).to_have_text(re.compile("Copied|Select"))
    await page.get_by_role("link", name="Bitcoin").click()
    assert (await page.locator("#deposit-address").inner_text()).startswith("bcrt1")
    await fits(phone)
    await phone.screenshot("wallet-receive")

    # Send to another user: the form, then the confirmation with fee and total.
    await (
        page.get_by_role("navigation", name="Wallet sections")
        .get_by_role("link", name="Send")
        .click()
    )
    await page.get_by_label("Email or phone number").fill(friend.email)
    await page.get_by_label("Amount").fill("25")
    await page.get_by_label("Note (optional)").fill("Chai na mandazi")
    await phone.screenshot("wallet-send")
    await page.get_by_role("button", name="Review").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Confirm")
    await expect(page.get_by_text("Free")).to_be_visible()
    await expect(page.locator("[data-total]")).to_have_text("25.00 USDT")
    await fits(phone)
    await phone.screenshot("wallet-send-confirm")
    await page.get_by_role("button", name="Send 25.00 USDT").click()

    # The activity shows it, and the balances follow.
    await expect(page).to_have_url(re.compile(r"/wallet/activity$"))
    await expect(page.get_by_role("status").first).to_have_text(
        f"You sent 25.00 USDT to {friend.email}."
    )
    sent = page.get_by_role("list", name="Activity").get_by_role("listitem").first
    await expect(sent).to_contain_text(f"To {friend.email}")
    await expect(sent).to_contain_text("Completed")
    await expect(sent).to_contain_text("\u221225.00 USDT")  # a minus sign, not a hyphen
    await fits(phone)
    await phone.screenshot("wallet-activity")
    await page.get_by_role("link", name="Balances").click()
    await expect(usdt.locator("[data-available]")).to_have_text("225.00")

    # To an address: the confirmation spells out the network fee, ours, and the total.
    await page.get_by_role("link", name="Send", exact=True).first.click()
    await page.get_by_role("link", name="A crypto address").click()
    await page.get_by_label("Coin and network").select_option("USDT:tron")
    await page.get_by_label("Address").fill("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8")
    await page.get_by_label("Amount").fill("10")
    await page.get_by_role("button", name="Review").click()
    await expect(page.get_by_text("Network fee")).to_be_visible()
    await expect(page.get_by_text("Qpeapay fee")).to_be_visible()
    await expect(page.locator("[data-total]")).to_have_text(re.compile(r"^1\d\.\d+ USDT$"))
    await fits(phone)
    await phone.screenshot("wallet-withdraw-confirm")
    assert phone.problems == []
