"""The identity pages through the real web app and API: register, verify, log in with and
without 2FA, transparent token refresh, devices, API keys, logout, and CSRF on every form."""

from __future__ import annotations

import re
import time

import httpx
import pyotp

from backend.runtime import Runtime
from contract.users import Role
from tests.identity import PASSWORD, make_account
from web.session import ACCESS_TOKEN, REFRESH_TOKEN, SessionCodec, cookie_name

COOKIE = cookie_name(secure=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF field"
    return found.group(1)


async def post_form(
    web: httpx.AsyncClient, page: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """Open `page`, then submit a form to `action` with that page's CSRF token."""
    token = csrf_of((await web.get(page)).text)
    return await web.post(action, data={**data, "csrf_token": token})


async def register(web: httpx.AsyncClient, email: str, **extra: str) -> httpx.Response:
    data = {"email": email, "password": PASSWORD, "phone": "0712 345 678",
            "account_type": "customer", **extra}  # fmt: skip
    return await post_form(web, "/register", "/register", data)


async def log_in(web: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await post_form(web, "/login", "/login", {"email": email, "password": password})


def code_in(html: str, purpose: str) -> str:
    block = html.split(f'data-purpose="{purpose}"', 1)[1]
    found = re.search(r"\b(\d{6})\b", block)
    assert found
    return found.group(1)


async def test_register_then_verify_phone_and_email(web: httpx.AsyncClient) -> None:
    response = await register(web, "akinyi@example.com")
    assert response.status_code == 303 and response.headers["location"] == "/account/verify"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = await web.get("/account/verify")
    assert "Not verified" in page.text and "/dev/outbox" in page.text
    outbox = (await web.get("/dev/outbox")).text
    for channel, purpose in (("phone", "verify_phone"), ("email", "verify_email")):
        done = await post_form(web, "/account/verify", f"/account/verify/{channel}",
                               {"code": code_in(outbox, purpose)})  # fmt: skip
        assert done.status_code == 303, done.text
    overview = await web.get("/account")
    assert "Verified" in overview.text and "Finish verification" not in overview.text


async def test_registration_errors_show_on_the_form(web: httpx.AsyncClient) -> None:
    weak = await register(web, "akinyi@example.com", password="password1234")
    assert weak.status_code == 422 and "too common" in weak.text
    assert 'value="akinyi@example.com"' in weak.text  # what was typed is kept...
    assert "password1234" not in weak.text  # ...except the password
    phone = await register(web, "akinyi@example.com", phone="020 123 4567")
    assert "Kenyan mobile number" in phone.text
    merchant = await register(web, "duka@example.com", account_type="merchant")
    assert "business name" in merchant.text


async def test_registering_a_taken_email_says_check_your_email_not_taken(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    response = await register(web, someone.email, password="another good passphrase")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    page = (await web.get("/login")).text
    assert "Check your email" in page and "already" not in page.split("Check your email")[0]
    assert "taken" not in page.lower() and "exists" not in page.lower()


async def test_wrong_password_and_unknown_email_look_the_same(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    wrong = await log_in(web, someone.email, "definitely not it")
    unknown = await log_in(web, "nobody@example.com", "definitely not it")
    assert wrong.status_code == unknown.status_code == 401
    strip = re.compile(r'value="[^"]*"|"X-CSRF-Token": "[^"]*"')
    assert strip.sub("", wrong.text) == strip.sub("", unknown.text).replace(
        "nobody@example.com", someone.email
    )


async def test_two_factor_from_setup_to_login(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    assert (await log_in(web, someone.email)).headers["location"] == "/wallet"
    setup = await post_form(web, "/account/security", "/account/security/2fa/enroll", {})
    assert "<svg" in setup.text
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', setup.text)
    assert secret
    totp = pyotp.TOTP(secret.group(1))
    wrong = await web.post("/account/security/2fa/confirm",
                           data={"code": "000000", "csrf_token": csrf_of(setup.text)})  # fmt: skip
    assert wrong.status_code == 400 and secret.group(1) in wrong.text and "<svg" in wrong.text
    token = csrf_of(setup.text)
    codes = await web.post(
        "/account/security/2fa/confirm", data={"code": totp.now(), "csrf_token": token}
    )
    assert codes.status_code == 200 and "recovery-codes" in codes.text

    out = await post_form(web, "/account", "/logout", {})
    assert out.headers["location"] == "/login"
    step = await log_in(web, someone.email)
    assert step.headers["location"] == "/login/2fa"
    assert PASSWORD not in (await web.get("/login/2fa")).text
    bad = await post_form(web, "/login/2fa", "/login/2fa", {"otp": "000000"})
    assert bad.status_code == 401 and "not right" in bad.text
    good = await post_form(web, "/login/2fa", "/login/2fa",
                           {"otp": totp.at(time.time() + totp.interval)})  # fmt: skip
    assert good.status_code == 303 and good.headers["location"] == "/wallet"
    assert "2FA on" in (await web.get("/account")).text


async def test_an_expired_access_token_is_refreshed_transparently(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime, session_codec: SessionCodec
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    await log_in(web, someone.email)
    values = session_codec.open(web.cookies[COOKIE])
    assert values is not None
    old_refresh = values[REFRESH_TOKEN.name]
    values[ACCESS_TOKEN.name] = "expired-or-garbage"
    web.cookies.set(COOKIE, session_codec.seal(values), domain="web.test")
    page = await web.get("/account")
    assert page.status_code == 200 and someone.email in page.text
    renewed = session_codec.open(web.cookies[COOKIE])
    assert renewed is not None and renewed[REFRESH_TOKEN.name] != old_refresh


async def test_logout_revokes_the_api_session_and_clears_the_cookie(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime, session_codec: SessionCodec
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    await log_in(web, someone.email)
    values = session_codec.open(web.cookies[COOKIE])
    assert values is not None
    out = await post_form(web, "/account", "/logout", {})
    assert out.status_code == 303
    headers = {"Authorization": f"Bearer {values[ACCESS_TOKEN.name]}"}
    assert (await api.get("/v1/me", headers=headers)).status_code == 401
    after = await web.get("/account")
    assert after.status_code == 303 and after.headers["location"].startswith("/login")


async def test_forms_without_the_csrf_token_are_refused(web: httpx.AsyncClient) -> None:
    for action in ("/login", "/register", "/logout", "/account/api-keys"):
        response = await web.post(action, data={"email": "x@example.com"})
        assert response.status_code == 403, action


async def test_only_same_site_next_targets_are_followed(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    token = csrf_of((await web.get("/login?next=https://evil.example/")).text)
    for target, expected in (("https://evil.example/", "/wallet"), ("//evil.example", "/wallet"),
                             ("/account/security", "/account/security")):  # fmt: skip
        response = await web.post("/login", data={"email": someone.email, "password": PASSWORD,
                                                  "next": target, "csrf_token": token})  # fmt: skip
        assert response.headers["location"] == expected
        web.cookies.clear()  # signed in, /login would forward instead of showing the form
        token = csrf_of((await web.get("/login")).text)


async def test_signed_out_visitors_are_sent_to_login_and_back(web: httpx.AsyncClient) -> None:
    response = await web.get("/account/security")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account/security"


async def test_merchant_creates_sees_once_and_revokes_an_api_key(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    merchant = await make_account(api, runtime, Role.merchant)
    await log_in(web, merchant.email)
    posted = await post_form(web, "/account/api-keys", "/account/api-keys",
                             {"name": "Online shop", "scopes": "invoices:write"})  # fmt: skip
    # Redirected, so reloading the page that shows the secret cannot make a second key.
    assert posted.status_code == 303 and posted.headers["location"] == "/account/api-keys"
    created = await web.get("/account/api-keys")
    secret = re.search(r'id="new-secret"[^>]*value="(qp_test_[^"]+)"', created.text)
    assert secret
    again = await web.get("/account/api-keys")
    assert secret.group(1) not in again.text and secret.group(1)[:12] in again.text
    assert again.text.count("/revoke") == 1
    key_id = re.search(r"/account/api-keys/(key_\w+)/revoke", again.text)
    assert key_id
    revoked = await post_form(
        web, "/account/api-keys", f"/account/api-keys/{key_id.group(1)}/revoke", {}
    )
    assert revoked.status_code == 303
    assert "Revoked" in (await web.get("/account/api-keys")).text


async def test_customers_do_not_get_the_api_keys_page(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer = await make_account(api, runtime, Role.customer)
    await log_in(web, customer.email)
    response = await web.get("/account/api-keys")
    assert response.status_code == 303 and response.headers["location"] == "/wallet"
    assert "API keys" not in (await web.get("/account")).text


def nav_links(html: str) -> list[str]:
    nav = html.split('aria-label="Signed in"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<a href="([^"]+)"', nav)


async def test_signed_in_people_land_on_their_home_and_share_one_navigation(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    # Customers used to land on /account, whose pages had no way to the wallet.
    homes = {Role.customer: "/wallet", Role.merchant: "/account", Role.admin: "/account"}
    links = {Role.customer: ["/wallet", "/account"], Role.admin: ["/account"],
             Role.merchant: ["/wallet", "/account", "/account/api-keys"]}  # fmt: skip
    for role, home in homes.items():
        person = await make_account(api, runtime, role)
        assert (await log_in(web, person.email)).headers["location"] == home
        for page in ["/account", "/account/security", *links[role][:1]]:
            html = (await web.get(page)).text
            assert nav_links(html) == links[role], (role, page)
            assert 'action="/logout"' in html
        await post_form(web, "/account", "/logout", {})


async def test_the_logo_and_login_lead_a_signed_in_person_back_in(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    # The logo on every page goes to the landing page, which offered only Log in and Sign
    # up, and Log in asked a signed-in person for their password again.
    assert "Sign up" in (await web.get("/")).text
    customer = await make_account(api, runtime, Role.customer)
    await log_in(web, customer.email)
    landing = (await web.get("/")).text
    assert "My account" in landing and "Sign up" not in landing
    again = await web.get("/login")
    assert again.status_code == 303 and again.headers["location"] == "/wallet"
    onward = await web.get("/login?next=/account/sessions")
    assert onward.headers["location"] == "/account/sessions"
    signup = await web.get("/register")
    assert signup.status_code == 303 and signup.headers["location"] == "/wallet"
    await post_form(web, "/account", "/logout", {})
    assert (await web.get("/login")).status_code == 200
    assert (await web.get("/register")).status_code == 200


async def test_devices_page_lists_and_signs_out_other_devices(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)  # also signed in via the API
    await log_in(web, someone.email)
    page = await web.get("/account/sessions")
    assert "This device" in page.text and page.text.count('/end"') == 1
    ended = await post_form(web, "/account/sessions", "/account/sessions/end-others", {})
    assert ended.status_code == 303
    assert (await api.get("/v1/me", headers=someone.headers)).status_code == 401
