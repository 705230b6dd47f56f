"""Password pages through the real web app and API: forgot password → code by email → new
password → back to login; changing the password on the security page; and the recovery
codes page's copy, download and print tools."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import unquote

import httpx
import pyotp
from sqlalchemy import select

from backend.notifications.models import Notification
from backend.runtime import Runtime
from contract.users import Role
from tests.identity import PASSWORD, make_account
from tests.web.test_identity_pages import csrf_of, log_in, post_form

NEW_PASSWORD = "Mvua-ya-jioni-Kisumu-42"


async def reset_code(runtime: Runtime, email: str) -> str:
    async with runtime.sessionmaker() as session:
        body = await session.scalar(
            select(Notification.body)
            .where(Notification.recipient == email, Notification.purpose == "password_reset")
            .order_by(Notification.created_at.desc())
            .limit(1)
        )
    assert body is not None, f"no reset code went to {email}"
    found = re.search(r"\b(\d{6})\b", body)
    assert found is not None
    return found.group(1)


async def test_the_login_page_links_to_forgot_password(web: httpx.AsyncClient) -> None:
    page = (await web.get("/login")).text
    assert 'href="/login/forgot"' in page and "Forgot password?" in page
    forgot = await web.get("/login/forgot")
    assert forgot.status_code == 200 and 'action="/login/forgot"' in forgot.text
    assert "<script>" not in forgot.text  # plain form: nothing to run on a slow phone


async def test_a_reset_from_forgot_password_back_to_login(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    asked = await post_form(web, "/login/forgot", "/login/forgot", {"email": someone.email})
    assert asked.status_code == 303 and asked.headers["location"] == "/login/reset"
    page = await web.get("/login/reset")
    assert someone.email in page.text and "10 minutes" in page.text
    assert f'value="{someone.email}"' in page.text  # the email is filled in already

    code = await reset_code(runtime, someone.email)
    wrong = await web.post(
        "/login/reset",
        data={
            "email": someone.email,
            "code": "000000" if code != "000000" else "111111",
            "new_password": NEW_PASSWORD,
            "csrf_token": csrf_of(page.text),
        },
    )
    assert wrong.status_code == 400
    assert "That code is not right or has expired" in html.unescape(wrong.text)
    assert NEW_PASSWORD not in wrong.text

    spaced = f"{code[:3]} {code[3:]}"  # as people copy it from an email
    done = await web.post(
        "/login/reset",
        data={
            "email": someone.email,
            "code": spaced,
            "new_password": NEW_PASSWORD,
            "csrf_token": csrf_of(wrong.text),
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"
    login = await web.get("/login")
    assert "Your password is changed. Log in with your new password." in login.text
    assert (await log_in(web, someone.email)).status_code == 401
    assert (await log_in(web, someone.email, NEW_PASSWORD)).status_code == 303


async def test_forgot_password_says_the_same_for_an_unknown_email(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    pages = []
    for email in (someone.email, "nobody@example.com"):
        asked = await post_form(web, "/login/forgot", "/login/forgot", {"email": email})
        assert asked.status_code == 303 and asked.headers["location"] == "/login/reset"
        page = (await web.get("/login/reset")).text
        pages.append(page.replace(email, "EMAIL"))
    strip = re.compile(r'value="[^"]*"|"X-CSRF-Token": "[^"]*"')
    assert strip.sub("", pages[0]) == strip.sub("", pages[1])


async def test_reset_form_errors_show_on_their_fields(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    bad_email = await post_form(web, "/login/forgot", "/login/forgot", {"email": "not-an-email"})
    assert bad_email.status_code == 422 and "valid email" in bad_email.text
    await post_form(web, "/login/forgot", "/login/forgot", {"email": someone.email})
    code = await reset_code(runtime, someone.email)
    short = await post_form(
        web,
        "/login/reset",
        "/login/reset",
        {"email": someone.email, "code": code, "new_password": "short"},
    )
    assert short.status_code == 422 and "at least 12 characters" in short.text
    assert 'id="new_password-error"' in short.text
    typo = await post_form(
        web,
        "/login/reset",
        "/login/reset",
        {"email": someone.email, "code": "12a456", "new_password": NEW_PASSWORD},
    )
    assert typo.status_code == 422 and 'id="code-error"' in typo.text
    # Neither refusal spent the code.
    ok = await post_form(
        web,
        "/login/reset",
        "/login/reset",
        {"email": someone.email, "code": code, "new_password": NEW_PASSWORD},
    )
    assert ok.status_code == 303


async def test_changing_the_password_on_the_security_page_keeps_this_browser_signed_in(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    await log_in(web, someone.email)
    page = (await web.get("/account/security")).text
    assert 'action="/account/security/password"' in page and "Change password" in page

    wrong = await post_form(
        web,
        "/account/security",
        "/account/security/password",
        {"current_password": "not it", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 400
    assert "That is not your current password." in wrong.text
    assert 'id="current-password-error"' in wrong.text

    done = await post_form(
        web,
        "/account/security",
        "/account/security/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/account/security"
    after = await web.get("/account/security")
    assert after.status_code == 200
    # The account's first session (made by the test helper) is the one other device.
    assert "Your password is changed. We signed out 1 other device." in after.text
    gone = await api.get("/v1/me", headers=someone.headers)
    assert gone.status_code == 401


async def test_recovery_codes_can_be_copied_downloaded_and_printed(
    web: httpx.AsyncClient, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    someone = await make_account(api, runtime, Role.customer)
    await log_in(web, someone.email)
    setup = await post_form(web, "/account/security", "/account/security/2fa/enroll", {})
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', setup.text)
    assert secret
    page = await web.post(
        "/account/security/2fa/confirm",
        data={"code": pyotp.TOTP(secret.group(1)).now(), "csrf_token": csrf_of(setup.text)},
    )
    assert page.status_code == 200
    listed = page.text.split('id="recovery-codes"', 1)[1].split("</ul>", 1)[0]
    codes = [code.strip() for code in re.findall(r"<li[^>]*>([^<]+)</li>", listed)]
    assert len(set(codes)) == 10

    assert 'data-codes="copy"' in page.text and 'data-codes="print"' in page.text
    assert re.search(r'<script src="/static/js/recovery-codes\.js\?v=\w+" defer>', page.text)
    assert "data-print-only" in page.text
    link = re.search(
        r'<a href="(data:text/plain;charset=utf-8,[^"]+)" download="([^"]+)"', page.text
    )
    assert link and link.group(2) == "qpeapay-recovery-codes.txt"
    text = unquote(html.unescape(link.group(1)).split(",", 1)[1])
    assert someone.email in text
    assert [line for line in text.splitlines() if line in codes] == codes
    script = await web.get("/static/js/recovery-codes.js")
    assert script.status_code == 200 and "window.print()" in script.text

    # New codes (renewed with the next app code) get the same tools.
    renewed = await post_form(
        web,
        "/account/security",
        "/account/security/2fa/recovery-codes",
        {"code": pyotp.TOTP(secret.group(1)).at(time.time() + 30)},
    )
    assert renewed.status_code == 200 and 'download="qpeapay-recovery-codes.txt"' in renewed.text


async def test_too_many_code_requests_say_so_on_the_form(web: httpx.AsyncClient) -> None:
    for _ in range(3):
        asked = await post_form(web, "/login/forgot", "/login/forgot", {"email": "a@example.com"})
        assert asked.status_code == 303
    refused = await post_form(web, "/login/forgot", "/login/forgot", {"email": "a@example.com"})
    assert refused.status_code == 429
    assert "Too many codes were asked for" in refused.text
    assert 'value="a@example.com"' in refused.text
