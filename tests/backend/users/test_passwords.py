"""Password reset by emailed code (no account enumeration, single-use codes that burn on
wrong guesses, every session ended) and password change while signed in (the current
password asked, other sessions ended), with their limits and audit trail."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select, update

from backend.audit.models import AuditEvent
from backend.auth.models import AuthSession, VerificationCode
from backend.db import unit_of_work, utcnow
from backend.notifications.models import Notification
from backend.runtime import Runtime
from contract.users import Role
from tests.identity import PASSWORD, Account, make_account, make_api_key, sign_in

NEW_PASSWORD = "Mvua-ya-jioni-Kisumu-42"


async def _messages(runtime: Runtime, email: str, purpose: str) -> list[Notification]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.recipient == email, Notification.purpose == purpose)
            .order_by(Notification.created_at.desc())
        )
        return list(rows.all())


async def _reset_code(runtime: Runtime, email: str) -> str:
    messages = await _messages(runtime, email, "password_reset")
    assert messages, f"no reset code was sent to {email}"
    found = re.search(r"\b(\d{6})\b", messages[0].body)
    assert found is not None
    return found.group(1)


async def _audit(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows.all())


def _other(code: str) -> str:
    return "111111" if code != "111111" else "222222"


async def _confirm(
    api: httpx.AsyncClient, email: str, code: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await api.post(
        "/v1/auth/password-reset/confirm",
        json={"email": email, "code": code, "new_password": password},
    )


async def test_a_reset_request_answers_alike_whether_or_not_the_email_has_an_account(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    known = await api.post("/v1/auth/password-reset", json={"email": customer.email.upper()})
    unknown = await api.post("/v1/auth/password-reset", json={"email": "nobody@example.test"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert known.json()["expires_in"] == 600
    assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())
    assert len(await _messages(runtime, customer.email, "password_reset")) == 1
    assert await _messages(runtime, "nobody@example.test", "password_reset") == []
    [requested] = await _audit(runtime, "auth.password_reset_requested")
    assert requested.subject_user_id == customer.user_id


async def test_a_reset_sets_the_password_and_ends_every_session(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    other_device = await sign_in(api, customer.email, PASSWORD)
    await api.post("/v1/auth/password-reset", json={"email": customer.email})
    code = await _reset_code(runtime, customer.email)

    done = await _confirm(api, customer.email, code)
    assert done.status_code == 200, done.text
    assert done.json() == {"sessions_ended": 2}

    # Access tokens die with their session at once; refresh tokens with their family.
    for access in (customer.access_token, other_device["access_token"]):
        me = await api.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 401
    for refresh in (customer.refresh_token, other_device["refresh_token"]):
        again = await api.post("/v1/auth/refresh", json={"refresh_token": refresh})
        assert again.status_code == 401
    old = await api.post("/v1/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert old.status_code == 401
    await sign_in(api, customer.email, NEW_PASSWORD)

    async with runtime.sessionmaker() as session:
        reasons = set(
            (
                await session.scalars(
                    select(AuthSession.revoked_reason).where(
                        AuthSession.user_id == customer.user_id,
                        AuthSession.revoked_at.is_not(None),
                    )
                )
            ).all()
        )
    assert reasons == {"password_reset"}
    [event] = await _audit(runtime, "auth.password_reset")
    assert event.subject_user_id == customer.user_id and event.details["sessions_ended"] == 2
    [told] = await _messages(runtime, customer.email, "password_changed")
    assert code not in told.body


async def test_a_reset_code_works_once_and_only_the_newest_counts(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await api.post("/v1/auth/password-reset", json={"email": customer.email})
    first = await _reset_code(runtime, customer.email)
    await api.post("/v1/auth/password-reset", json={"email": customer.email})
    second = await _reset_code(runtime, customer.email)
    if first != second:
        stale = await _confirm(api, customer.email, first)
        assert stale.status_code == 400 and stale.json()["error"]["code"] == "code_invalid"
    assert (await _confirm(api, customer.email, second)).status_code == 200
    reused = await _confirm(api, customer.email, second, "Another-long-passphrase-77")
    assert reused.status_code == 400
    assert reused.json()["error"] == {
        "type": "invalid_request_error",
        "code": "code_invalid",
        "message": "That code is not right or has expired.",
        "param": "code",
        "reference": None,
    }
    await sign_in(api, customer.email, NEW_PASSWORD)


async def test_wrong_guesses_burn_a_reset_code(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await api.post("/v1/auth/password-reset", json={"email": customer.email})
    code = await _reset_code(runtime, customer.email)
    for _ in range(5):
        wrong = await _confirm(api, customer.email, _other(code))
        assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "code_invalid"
    burnt = await _confirm(api, customer.email, code)
    assert burnt.status_code == 400
    await sign_in(api, customer.email, PASSWORD)  # the password is unchanged
    failures = await _audit(runtime, "auth.password_reset_failed")
    assert [e.details["reason"] for e in failures].count("wrong_code") == 5


async def test_an_expired_reset_code_is_refused(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await api.post("/v1/auth/password-reset", json={"email": customer.email})
    code = await _reset_code(runtime, customer.email)
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(
            update(VerificationCode)
            .where(VerificationCode.user_id == customer.user_id)
            .values(expires_at=utcnow())
        )
    assert (await _confirm(api, customer.email, code)).status_code == 400


async def test_an_unknown_email_gets_the_same_refusal_as_a_wrong_code(
    api: httpx.AsyncClient, customer: Account
) -> None:
    unknown = await _confirm(api, "nobody@example.test", "123456")
    wrong = await _confirm(api, customer.email, "123456")
    assert unknown.status_code == wrong.status_code == 400
    assert unknown.json() == wrong.json()


async def test_the_new_password_follows_the_registration_rules_without_spending_the_code(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await api.post("/v1/auth/password-reset", json={"email": customer.email})
    code = await _reset_code(runtime, customer.email)
    for weak in ("short1!", "Password2024!!", f"{customer.email.split('@')[0]}-long-enough"):
        refused = await _confirm(api, customer.email, code, weak)
        assert refused.status_code == 422, weak
        assert refused.json()["error"]["code"] == "weak_password"
        assert refused.json()["error"]["param"] == "new_password"
    assert (await _confirm(api, customer.email, code)).status_code == 200


async def test_requests_and_checks_are_limited_separately(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    for email in (customer.email, "nobody@example.test"):
        statuses = [
            (await api.post("/v1/auth/password-reset", json={"email": email})).status_code
            for _ in range(4)
        ]
        assert statuses == [202, 202, 202, 429], email
    code = await _reset_code(runtime, customer.email)
    # Sending is spent for this email, checking is not.
    assert (await _confirm(api, customer.email, code)).status_code == 200

    for _ in range(10):
        assert (await _confirm(api, "nobody@example.test", "123456")).status_code == 400
    limited = await _confirm(api, "nobody@example.test", "123456")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert (await _confirm(api, customer.email, "123456")).status_code == 400


async def test_reset_requests_are_limited_per_client_ip(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    statuses = [
        (
            await api.post("/v1/auth/password-reset", json={"email": f"p{n}@example.test"})
        ).status_code
        for n in range(11)
    ]
    assert statuses == [202] * 10 + [429]


async def test_reset_and_verification_codes_never_stand_in_for_each_other(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_account(api, runtime, Role.customer, verified=False)
    await api.post("/v1/me/verify/email/send", headers=me.headers)
    [message] = (await _messages(runtime, me.email, "verify_email"))[:1]
    verify_code = re.search(r"\b(\d{6})\b", message.body)
    assert verify_code is not None
    await api.post("/v1/auth/password-reset", json={"email": me.email})
    reset_code = await _reset_code(runtime, me.email)
    if reset_code != verify_code.group(1):
        assert (await _confirm(api, me.email, verify_code.group(1))).status_code == 400
        wrong = await api.post("/v1/me/verify/email", json={"code": reset_code}, headers=me.headers)
        assert wrong.status_code == 400
    # A reset code sent later does not replace the email code: it still verifies.
    ok = await api.post(
        "/v1/me/verify/email", json={"code": verify_code.group(1)}, headers=me.headers
    )
    assert ok.status_code == 200, ok.text


async def test_a_disabled_account_gets_no_reset_code(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, admin: Account
) -> None:
    disabled = await api.post(
        f"/v1/admin/users/{customer.user_id}/disable",
        json={"reason": "fraud check"},
        headers=admin.headers,
    )
    assert disabled.status_code == 200, disabled.text
    answer = await api.post("/v1/auth/password-reset", json={"email": customer.email})
    assert answer.status_code == 202
    assert await _messages(runtime, customer.email, "password_reset") == []


async def test_a_reset_lifts_a_sign_in_lockout(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    for _ in range(10):
        await api.post("/v1/auth/login", json={"email": customer.email, "password": "wrong!"})
    locked = await api.post("/v1/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert locked.status_code == 429
    await api.post("/v1/auth/password-reset", json={"email": customer.email})
    assert (
        await _confirm(api, customer.email, await _reset_code(runtime, customer.email))
    ).status_code == 200
    await sign_in(api, customer.email, NEW_PASSWORD)


# --- change while signed in -----------------------------------------------------------


async def _change(
    api: httpx.AsyncClient, account: Account, current: str, new: str = NEW_PASSWORD
) -> httpx.Response:
    return await api.post(
        "/v1/me/password",
        json={"current_password": current, "new_password": new},
        headers=account.headers,
    )


async def test_a_change_keeps_this_session_and_ends_the_others(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    others = [await sign_in(api, customer.email, PASSWORD) for _ in range(2)]
    changed = await _change(api, customer, PASSWORD)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"sessions_ended": 2}
    assert (await api.get("/v1/me", headers=customer.headers)).status_code == 200
    again = await api.post("/v1/auth/refresh", json={"refresh_token": customer.refresh_token})
    assert again.status_code == 200  # this session's refresh family lives on
    for pair in others:
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        assert (await api.get("/v1/me", headers=headers)).status_code == 401
        gone = await api.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert gone.status_code == 401
    old = await api.post("/v1/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert old.status_code == 401
    await sign_in(api, customer.email, NEW_PASSWORD)
    [event] = await _audit(runtime, "auth.password_changed")
    assert event.actor_user_id == customer.user_id and event.details["sessions_ended"] == 2
    assert len(await _messages(runtime, customer.email, "password_changed")) == 1


async def test_a_wrong_current_password_is_refused_and_counts_against_sign_in(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    wrong = await _change(api, customer, "not my password")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "password_incorrect"
    assert wrong.json()["error"]["param"] == "current_password"
    for _ in range(9):
        assert (await _change(api, customer, "not my password")).status_code == 400
    # The budget of wrong passwords is spent: neither door accepts even the right one now.
    assert (await _change(api, customer, PASSWORD)).status_code == 429
    login = await api.post("/v1/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert login.status_code == 429
    failures = await _audit(runtime, "auth.password_change_failed")
    assert len(failures) == 10 and failures[0].outcome == "failure"


async def test_the_new_password_must_be_new_and_strong(
    api: httpx.AsyncClient, customer: Account
) -> None:
    same = await _change(api, customer, PASSWORD, PASSWORD)
    assert same.status_code == 422 and same.json()["error"]["param"] == "new_password"
    weak = await _change(api, customer, PASSWORD, "qwerty123")
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"
    await sign_in(api, customer.email, PASSWORD)


async def test_api_keys_cannot_change_a_password(api: httpx.AsyncClient, merchant: Account) -> None:
    key = await make_api_key(api, merchant, "invoices:read")
    response = await api.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 403
