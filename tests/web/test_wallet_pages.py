"""The wallet pages through the real web app and API: balances, receive with a QR, sending
to a person and to an address through the review step (fee and total shown, one key, so a
resent confirmation acts once), errors on the field they concern, and live activity."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest

from backend.keys import signer
from backend.runtime import Runtime
from contract.money import Asset, Network
from tests.backend.wallets.nodes import Nodes, bitcoin_node, nodes, tron_node
from tests.backend.wallets.support import available, credit
from tests.identity import Account
from tests.rates_feed import RatesFeed
from tests.web.test_identity_pages import csrf_of, log_in

TRX_ADDRESS = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
BTC_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
BAD_CHECKSUM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"  # last letter's case flipped
__all__ = ["bitcoin_node", "nodes", "tron_node"]  # fixtures: real nodes for network fees


@pytest.fixture(autouse=True)
def _setting(rates_feed: RatesFeed, master_seed: signer.SeedInfo, nodes: Nodes) -> None:
    """Rates for fees, limits and KES values; a seed for deposit addresses; nodes for fees."""


def hidden(html: str) -> dict[str, str]:
    """The review page's confirmation form, as the browser would send it."""
    form = html.split('action="/wallet/send/confirm"', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    return fields


async def review(web: httpx.AsyncClient, page: str, **fields: str) -> httpx.Response:
    token = csrf_of((await web.get(page)).text)
    return await web.post("/wallet/send/review", data={**fields, "csrf_token": token})


async def test_signed_out_people_are_sent_to_log_in(web: httpx.AsyncClient) -> None:
    response = await web.get("/wallet")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/wallet"


async def test_balances_show_what_the_api_says(
    web: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "1234.5", Asset.USDT, Network.tron)
    await log_in(web, customer.email)

    page = await web.get("/wallet")

    assert page.status_code == 200
    usdt = page.text.split('data-asset="USDT"', 1)[1].split("</li>", 1)[0]
    assert "1,234.50" in usdt and "≈ KES" in usdt
    assert "Nothing here yet" in page.text  # a ledger credit is not a deposit line


async def test_receive_shows_the_address_its_qr_and_a_copy_button(
    web: httpx.AsyncClient, api: httpx.AsyncClient, customer: Account
) -> None:
    await log_in(web, customer.email)

    page = await web.get("/wallet/receive?network=bitcoin")

    address = (await api.get("/v1/wallets/bitcoin/address", headers=customer.headers)).json()
    assert page.status_code == 200
    assert 'id="deposit-address"' in page.text and address["address"] in page.text
    assert address["qr_svg"] in page.text
    assert 'data-copy="#deposit-address"' in page.text
    assert "Coins sent on another network cannot be recovered" in page.text


async def test_sending_to_a_person_reviews_then_pays_once(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime, customer: Account,
    merchant: Account,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "20", Asset.USDT, Network.tron)
    await log_in(web, customer.email)

    shown = await review(web, "/wallet/send", mode="person", to=merchant.email, asset="USDT",
                         amount="7.5", note="chapati")  # fmt: skip
    assert shown.status_code == 200
    assert "Free" in shown.text and "7.50 USDT" in shown.text and "chapati" in shown.text
    assert await available(api, merchant, Asset.USDT) == 0  # nothing moves on review

    form = hidden(shown.text)
    sent = await web.post("/wallet/send/confirm", data=form)
    again = await web.post("/wallet/send/confirm", data=form)  # a double tap

    assert sent.status_code == again.status_code == 303
    assert sent.headers["location"] == "/wallet/activity"
    assert await available(api, merchant, Asset.USDT) == Decimal("7.5")
    assert await available(api, customer, Asset.USDT) == Decimal("12.5")
    activity = await web.get("/wallet/activity")
    assert f"You sent 7.50 USDT to {merchant.email}." in activity.text
    assert f"To {merchant.email}" in activity.text and "Completed" in activity.text


async def test_sending_to_an_address_shows_the_fees_and_total(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "50", Asset.USDT, Network.tron)
    await log_in(web, customer.email)

    shown = await review(web, "/wallet/send?to=address", mode="address", route="USDT:tron",
                         address=TRX_ADDRESS, amount="10")  # fmt: skip
    params = {"asset": "USDT", "network": "tron", "address": TRX_ADDRESS, "amount": "10"}
    preview = (
        await api.get("/v1/withdrawals/preview", headers=customer.headers, params=params)
    ).json()

    assert shown.status_code == 200
    assert "Network fee" in shown.text and "Qpeapay fee" in shown.text
    total = Decimal(preview["total"]["amount"])
    assert re.search(rf"data-total>\s*{re.escape(f'{total.normalize():,f}')} USDT", shown.text)
    form = hidden(shown.text)
    assert Decimal(form["max_fee"]) == Decimal(preview["fee"]["amount"])

    sent = await web.post("/wallet/send/confirm", data=form)

    assert sent.status_code == 303
    activity = await web.get("/wallet/activity")
    assert "is on its way" in activity.text and "Sending" in activity.text
    # Something is on its way, so the list reloads itself; the htmx request gets the list.
    assert 'hx-trigger="every 3s"' in activity.text
    rows = await web.get("/wallet/activity", headers={"HX-Request": "true"})
    assert rows.text.lstrip().startswith('<div id="activity"') and "<html" not in rows.text


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"mode": "person", "to": "someone@example.test", "asset": "USDT", "amount": "abc"},
         "amount", "above zero"),
        ({"mode": "address", "route": "USDT:ethereum", "address": BAD_CHECKSUM,
          "amount": "1"}, "address", "checksum"),
        ({"mode": "address", "route": "BTC:bitcoin", "address": BTC_ADDRESS,
          "amount": "0.000000001"}, "amount", "8 decimals"),
    ],
)  # fmt: skip
async def test_a_refused_send_comes_back_to_its_form_with_the_reason(
    web: httpx.AsyncClient, customer: Account, fields: dict[str, str], field: str, words: str
) -> None:
    await log_in(web, customer.email)

    shown = await review(web, "/wallet/send", **fields)

    assert shown.status_code in (400, 404, 422)
    assert f'id="{field}-error"' in shown.text and words in shown.text
    assert 'action="/wallet/send/review"' in shown.text  # still the form, values kept
    assert 'action="/wallet/send/confirm"' not in shown.text


async def test_an_unknown_recipient_is_refused_at_confirmation_on_the_form(
    web: httpx.AsyncClient, customer: Account
) -> None:
    await log_in(web, customer.email)
    # The review shows what was typed: whether an account exists is not for anyone to probe.
    shown = await review(web, "/wallet/send", mode="person", to="nobody@example.test",
                         asset="USDT", amount="1")  # fmt: skip

    refused = await web.post("/wallet/send/confirm", data=hidden(shown.text))

    assert refused.status_code == 404
    assert 'id="to-error"' in refused.text and "No Qpeapay account" in refused.text
    assert 'value="nobody@example.test"' in refused.text


async def test_more_than_the_balance_is_refused_at_confirmation(
    web: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "5", Asset.USDT, Network.tron)
    await log_in(web, customer.email)
    shown = await review(web, "/wallet/send", mode="person", to=merchant.email, asset="USDT",
                         amount="6")  # fmt: skip

    refused = await web.post("/wallet/send/confirm", data=hidden(shown.text))

    assert refused.status_code == 409
    assert "Your available USDT balance is 5.000000; this needs 6.000000." in refused.text
