"""The wallet in a real browser on a 390x844 phone: a signed-in customer sees their balance,
opens Receive (address, QR, copy), sends to another user through the confirmation step
that shows the fee and total, and finds it in the activity. Screenshots land in
var/test/screens/."""

from __future__ import annotations

import re
from decimal import Decimal

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
    await expect(page.locator("#estimate [data-kes]")).to_contain_text("≈ KES")
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
    # The fee comes from the node's estimate (here, after its retries, the configured one).
    await expect(page.locator("#estimate [data-fee]")).to_contain_text("USDT", timeout=20_000)
    await page.get_by_role("button", name="Review").click()
    await expect(page.get_by_text("Network fee")).to_be_visible()
    await expect(page.get_by_text("Qpeapay fee")).to_be_visible()
    await expect(page.locator("[data-total]")).to_have_text(re.compile(r"^1\d\.\d+ USDT$"))
    await fits(phone)
    await phone.screenshot("wallet-withdraw-confirm")
    assert phone.problems == []


async def test_the_send_form_catches_mistakes_before_the_review_on_a_phone(
    phone: Tab, api: httpx.AsyncClient, runtime: Runtime, rates_feed: RatesFeed,
) -> None:  # fmt: skip
    customer = await make_account(api, runtime)
    friend = await make_account(api, runtime)
    await credit(runtime, customer.user_id, "250", Asset.USDT, Network.tron)
    page = phone.page
    await page.goto("/login?next=/wallet/send")
    await page.get_by_label("Email").fill(customer.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/wallet/send$"))
    estimate = page.locator("#estimate")
    await expect(estimate.locator("[data-available]")).to_have_text("250.00 USDT")

    # "1,5" is not read as 15: both mistakes are shown at once, focus on the first.
    await page.get_by_label("Amount").fill("1,5")
    await page.get_by_label("Amount").press("Enter")  # Enter means Review, not Max
    await expect(page.locator("#to-error")).to_contain_text("Enter the email or phone number")
    await expect(page.locator("#amount-error")).to_contain_text("“1,5” is unclear")
    await expect(page.get_by_label("Email or phone number")).to_be_focused()
    await fits(phone)
    await phone.screenshot("wallet-send-errors")

    # Someone who is not a customer is named before the review, not after confirming.
    await page.get_by_label("Email or phone number").fill("nobody@example.test")
    await page.get_by_label("Amount").fill("1,234.50")
    await expect(estimate.locator("[data-kes]")).to_contain_text("≈ KES")  # live, as typed
    await page.get_by_role("button", name="Review").click()
    await expect(page.locator("#to-error")).to_have_text(
        "No Qpeapay account has that email or phone number."
    )
    await expect(page.locator("#amount-error")).to_have_count(0)
    await expect(page.get_by_label("Amount")).to_have_value("1,234.50")

    # Max takes the whole balance; the review shows it; Back keeps every field.
    await page.get_by_label("Email or phone number").fill(friend.email)
    await page.get_by_label("Note (optional)").fill("Kodi ya nyumba")
    await page.get_by_role("button", name="Max: send the most I can").click()
    await expect(page.get_by_label("Amount")).to_have_value("250.00")
    await expect(page.get_by_label("Amount")).to_be_focused()
    await page.get_by_role("button", name="Review").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Confirm")
    await expect(page.locator("[data-total]")).to_have_text("250.00 USDT")
    await expect(page.locator("[data-kes]")).to_contain_text("≈ KES")
    await fits(phone)
    await page.get_by_role("button", name="Back").click()
    await expect(page.get_by_label("Email or phone number")).to_have_value(friend.email)
    await expect(page.get_by_label("Amount")).to_have_value("250.00")
    await expect(page.get_by_label("Note (optional)")).to_have_value("Kodi ya nyumba")

    # On chain, Max leaves room for the fees, and Back keeps the network picked.
    await page.get_by_role("link", name="A crypto address").click()
    await page.get_by_label("Coin and network").select_option("USDT:ethereum")
    await page.get_by_label("Address").fill("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
    await page.get_by_role("button", name="Max: send the most I can after fees").click()
    most = await page.get_by_label("Amount").input_value()
    assert 0 < Decimal(most.replace(",", "")) < 250
    await page.get_by_role("button", name="Review").click()
    await expect(page.locator("[data-total]")).to_have_text(re.compile(r"^2\d\d(\.\d+)? USDT$"))
    await page.get_by_role("button", name="Back").click()
    await expect(page.get_by_label("Coin and network")).to_have_value("USDT:ethereum")
    await expect(page.get_by_label("Amount")).to_have_value(most)
    await fits(phone)
    await phone.screenshot("wallet-send-back")
    # The refused forms answer 422 and 404 on purpose; the browser logs those statuses.
    unexpected = [p for p in phone.problems if not re.search(r"status of (404|422) ", p)]
    assert unexpected == []
