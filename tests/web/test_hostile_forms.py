"""Forms refuse text no field takes (NUL, control characters) with a 400 page, and an
oversized amount comes back to its form with what is allowed: never a 500."""

from __future__ import annotations

import httpx

from tests.identity import Account
from tests.web.test_identity_pages import csrf_of, log_in, post_form


async def test_nul_in_a_form_is_a_400_page(web: httpx.AsyncClient, merchant: Account) -> None:
    login = await post_form(web, "/login", "/login", {"email": "a\x00@example.com",
                                                      "password": "pw"})  # fmt: skip
    assert login.status_code == 400
    assert "characters we cannot accept" in login.text

    register = await post_form(
        web, "/register?as=merchant", "/register",
        {"email": "duka@example.com", "password": "a long passphrase", "phone": "0722000113",
         "account_type": "merchant", "business_name": "Duka\x00"},
    )  # fmt: skip
    assert register.status_code == 400

    await log_in(web, merchant.email)
    key = await post_form(web, "/account/api-keys", "/account/api-keys",
                          {"name": "till\x1b", "scopes": "invoices:read"})  # fmt: skip
    assert key.status_code == 400
    assert "characters we cannot accept" in key.text


async def test_an_oversized_amount_comes_back_to_its_form(
    web: httpx.AsyncClient, customer: Account, merchant: Account
) -> None:
    await log_in(web, customer.email)
    for amount, says in (
        ("1e30", "in digits"),
        ("1E+400", "in digits"),
        ("123456789012345678901234567890", "at most 10 digits before the"),
    ):
        token = csrf_of((await web.get("/wallet/send")).text)
        shown = await web.post("/wallet/send/review", data={
            "mode": "person", "to": merchant.email, "asset": "USDT", "amount": amount,
            "csrf_token": token})  # fmt: skip  # a form post kept compact
        assert shown.status_code == 422, shown.text[:500]
        assert 'id="amount-error"' in shown.text
        assert says in shown.text


async def test_hostile_ids_in_a_page_path_are_no_page(
    web: httpx.AsyncClient, merchant: Account
) -> None:
    await log_in(web, merchant.email)
    for bad in ("%00", "a%00b", "..", "x" * 5000, "%C3%BC", "key_x%3Fy"):
        for page, action in (("/account/api-keys", f"/account/api-keys/{bad}/revoke"),
                             ("/account/sessions", f"/account/sessions/{bad}/end")):  # fmt: skip
            response = await post_form(web, page, action, {})
            assert response.status_code == 404, (action[:60], response.status_code)
