"""The wallet pages through the real web app and API: balances, receive with a QR, sending
to a person and to an address through the review step (fee and total shown, one key, so a
resent confirmation acts once), reached only once the API has checked the recipient, the
balance and the limits; every error at once on the field it concerns, Back and Max keeping
the form, and live activity."""

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
from web.wallet import amount

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
    assert "1,234.50" in usdt
    assert re.search(r"≈ KES \d{1,3}(,\d{3})*\.\d\d<", usdt)  # KES 1,234.50, cents and all
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
         "amount", "in digits"),
        ({"mode": "person", "to": "someone@example.test", "asset": "USDT", "amount": "1,5"},
         "amount", "“1,5” is unclear. Use a point for decimals"),
        ({"mode": "person", "to": "someone@example.test", "asset": "USDT",
          "amount": "1.0000001"}, "amount", "USDT allows at most 6 decimals."),
        ({"mode": "address", "route": "USDT:ethereum", "address": BAD_CHECKSUM,
          "amount": "1"}, "address", "checksum"),
        ({"mode": "address", "route": "BTC:bitcoin", "address": BTC_ADDRESS,
          "amount": "0.000000001"}, "amount", "BTC allows at most 8 decimals."),
    ],
)  # fmt: skip
async def test_a_refused_send_comes_back_to_its_form_with_the_reason(
    web: httpx.AsyncClient, runtime: Runtime, customer: Account, fields: dict[str, str],
    field: str, words: str,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "5", Asset.USDT, Network.tron)
    await log_in(web, customer.email)

    shown = await review(web, "/wallet/send", **fields)

    assert shown.status_code in (400, 404, 422)
    assert f'id="{field}-error"' in shown.text and words in shown.text
    assert 'action="/wallet/send/review"' in shown.text  # still the form, values kept
    assert f'value="{fields["amount"]}"' in shown.text
    assert 'action="/wallet/send/confirm"' not in shown.text


def focused(html: str) -> list[str]:
    """The ids of the form controls that take focus when the page loads."""
    return re.findall(r'<(?:input|select)\b[^>]*\bid="([^"]+)"[^>]*\bautofocus\b', html)


async def test_every_error_shows_at_once_next_to_its_field_and_focus_goes_to_the_first(
    web: httpx.AsyncClient, customer: Account
) -> None:
    await log_in(web, customer.email)

    shown = await review(web, "/wallet/send", mode="person", to="", asset="USDT",
                         amount="1,5", note="x" * 141)  # fmt: skip

    assert shown.status_code == 422
    assert 'id="to-error"' in shown.text and "Enter the email or phone number" in shown.text
    assert 'id="amount-error"' in shown.text and "is unclear" in shown.text
    assert 'id="note-error"' in shown.text and "140 characters or fewer" in shown.text
    assert set(focused(shown.text)) == {"to"}

    only_amount = await review(web, "/wallet/send", mode="person", to="a@example.test",
                               asset="USDT", amount="1.2.3")  # fmt: skip
    assert set(focused(only_amount.text)) == {"amount"}


@pytest.mark.parametrize(
    ("to", "status", "words"),
    [
        ("nobody@example.test", 404, "No Qpeapay account has that email or phone number."),
        ("+254799999999", 404, "No Qpeapay account has that email or phone number."),
        ("self", 400, "That is your own account"),
    ],
)
async def test_an_unknown_recipient_or_oneself_is_refused_before_the_review(
    web: httpx.AsyncClient, runtime: Runtime, customer: Account, to: str, status: int,
    words: str,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "5", Asset.USDT, Network.tron)
    await log_in(web, customer.email)
    to = customer.email if to == "self" else to

    refused = await review(web, "/wallet/send", mode="person", to=to, asset="USDT", amount="1")

    assert refused.status_code == status
    assert 'id="to-error"' in refused.text and words in refused.text
    assert f'value="{to}"' in refused.text
    assert 'action="/wallet/send/confirm"' not in refused.text


async def test_more_than_the_balance_or_the_limit_is_refused_before_the_review(
    web: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "5", Asset.USDT, Network.tron)
    await credit(runtime, customer.user_id, "2", Asset.BTC, Network.bitcoin)
    await log_in(web, customer.email)

    to_person = await review(web, "/wallet/send", mode="person", to=merchant.email,
                             asset="USDT", amount="6")  # fmt: skip
    # 5 USDT arrives, but the fees come on top of it.
    to_address = await review(web, "/wallet/send?to=address", mode="address",
                              route="USDT:tron", address=TRX_ADDRESS, amount="5")  # fmt: skip
    over_limit = await review(web, "/wallet/send", mode="person", to=merchant.email,
                              asset="BTC", amount="1")  # fmt: skip

    for refused in (to_person, to_address, over_limit):
        assert 'action="/wallet/send/confirm"' not in refused.text
        assert 'id="amount-error"' in refused.text
    assert to_person.status_code == to_address.status_code == 409
    assert "Your available USDT balance is 5.000000; this needs 6.000000." in to_person.text
    assert "Your available USDT balance is 5.000000; this needs 5." in to_address.text
    assert over_limit.status_code == 403 and "per-transaction withdraw limit" in over_limit.text


async def test_back_from_the_review_keeps_every_field(
    web: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "0.01", Asset.BTC, Network.bitcoin)
    await credit(runtime, customer.user_id, "20", Asset.USDT, Network.tron)
    await log_in(web, customer.email)
    by_address = await review(web, "/wallet/send?to=address", mode="address",
                              route="BTC:bitcoin", address=BTC_ADDRESS, amount="0.001")  # fmt: skip
    to_person = await review(web, "/wallet/send", mode="person", to=merchant.email,
                             asset="BTC", amount="0.002", note="rent")  # fmt: skip

    address_form = await web.post("/wallet/send/edit", data=hidden(by_address.text))
    person_form = await web.post("/wallet/send/edit", data=hidden(to_person.text))

    assert 'formaction="/wallet/send/edit"' in by_address.text
    assert address_form.status_code == 200
    assert re.search(r'<option value="BTC:bitcoin" selected>', address_form.text)
    assert f'value="{BTC_ADDRESS}"' in address_form.text and 'value="0.001"' in address_form.text
    assert 'action="/wallet/send/review"' in address_form.text
    assert re.search(r'href="/wallet/send" aria-current="page"[^>]*>Send<', address_form.text)
    assert re.search(r'<option value="BTC" selected>', person_form.text)
    for kept in (merchant.email, "0.002", "rent"):
        assert f'value="{kept}"' in person_form.text


async def test_the_form_shows_the_balance_the_kes_value_and_the_fee(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "1234.5", Asset.USDT, Network.tron)
    await log_in(web, customer.email)
    rate = next(
        Decimal(r["value"]) for r in (await api.get("/v1/rates")).json()["data"]
        if r["base"] == "USDT" and r["quote"] == "KES"
    )  # fmt: skip

    page = await web.get("/wallet/send")
    token = csrf_of(page.text)
    as_typed = await web.post(
        "/wallet/send/estimate",
        data={"mode": "person", "asset": "USDT", "amount": "1,000", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    on_chain = await web.post(
        "/wallet/send/estimate",
        data={"mode": "address", "route": "USDT:tron", "amount": "10", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    preview = await api.get(
        "/v1/withdrawals/preview", headers=customer.headers,
        params={"asset": "USDT", "network": "tron", "amount": "10"},
    )  # fmt: skip

    assert re.search(r"data-available>\s*1,234.50 USDT", page.text)
    assert 'hx-post="/wallet/send/estimate"' in page.text
    assert as_typed.status_code == 200 and "<html" not in as_typed.text
    kes = (1000 * rate).quantize(Decimal("0.01"))
    assert f"≈ KES {kes:,.2f}" in as_typed.text and "Free" in as_typed.text
    fee = Decimal(preview.json()["fee"]["amount"])
    assert fee > 0 and re.search(rf"Fee: <span[^>]*>{fee.normalize():f} USDT", on_chain.text)


async def test_max_fills_in_the_available_balance_less_on_chain_fees(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime, customer: Account,
    merchant: Account,
) -> None:  # fmt: skip
    await credit(runtime, customer.user_id, "50", Asset.USDT, Network.tron)
    await log_in(web, customer.email)
    token = csrf_of((await web.get("/wallet/send")).text)

    person = await web.post("/wallet/send/max", data={
        "mode": "person", "to": merchant.email, "asset": "USDT", "amount": "", "csrf_token": token,
    })  # fmt: skip
    on_chain = await web.post("/wallet/send/max", data={
        "mode": "address", "route": "USDT:tron", "address": TRX_ADDRESS, "amount": "1",
        "csrf_token": token,
    })  # fmt: skip
    most = (await api.get(
        "/v1/withdrawals/preview", headers=customer.headers,
        params={"asset": "USDT", "network": "tron", "address": TRX_ADDRESS},
    )).json()["amount"]["amount"]  # fmt: skip

    assert person.status_code == 200 and 'value="50.00"' in person.text
    assert f'value="{merchant.email}"' in person.text
    assert on_chain.status_code == 200 and f'value="{amount(Decimal(most))}"' in on_chain.text
    assert Decimal(most) < 50 and f'value="{TRX_ADDRESS}"' in on_chain.text
    assert set(focused(on_chain.text)) == {"amount"}
    shown = await web.post("/wallet/send/review", data={
        "mode": "address", "route": "USDT:tron", "address": TRX_ADDRESS,
        "amount": amount(Decimal(most)), "csrf_token": token,
    })  # fmt: skip
    assert shown.status_code == 200 and 'action="/wallet/send/confirm"' in shown.text


async def test_the_rate_limit_page_says_how_long_to_wait(
    web: httpx.AsyncClient, runtime: Runtime, customer: Account, merchant: Account
) -> None:
    await credit(runtime, customer.user_id, "5", Asset.USDT, Network.tron)
    await log_in(web, customer.email)
    runtime.settings.rate_limit_recipient_lookup = "1/hour"
    try:
        first = await review(web, "/wallet/send", mode="person", to=merchant.email,
                             asset="USDT", amount="1")  # fmt: skip
        second = await review(web, "/wallet/send", mode="person", to=merchant.email,
                              asset="USDT", amount="1")  # fmt: skip
    finally:
        runtime.settings.rate_limit_recipient_lookup = "30/hour"

    assert first.status_code == 200
    assert second.status_code == 429
    # The API's Retry-After is just under an hour for "1/hour": said as the hour it is.
    assert "Too many attempts. Wait 1 hour, then try again." in second.text
