"""Sessions (list, end one, end all others) and email/phone verification codes read back
from the dev outbox, with their limits."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select, update

from backend.auth.models import VerificationCode
from backend.db import unit_of_work, utcnow
from backend.runtime import Runtime
from contract.users import Role
from tests.identity import PASSWORD, Account, make_account, sign_in


async def test_sessions_list_marks_the_current_one_and_ends_others(
    api: httpx.AsyncClient, customer: Account, merchant: Account
) -> None:
    phone = await api.post(
        "/v1/auth/login",
        json={"email": customer.email, "password": PASSWORD},
        headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile Safari/537"},
    )
    listed = (await api.get("/v1/me/sessions", headers=customer.headers)).json()["data"]
    assert len(listed) == 2
    current = [s for s in listed if s["current"]]
    assert [s["id"] for s in current] == [customer.session_id]
    other = next(s for s in listed if not s["current"])
    assert other["device"] == "Chrome on Android"
    assert other["ip"] == "127.0.0.1"

    # Someone else's session id is simply not found.
    stranger = await api.delete(f"/v1/me/sessions/{other['id']}", headers=merchant.headers)
    assert stranger.status_code == 404

    ended = await api.delete(f"/v1/me/sessions/{other['id']}", headers=customer.headers)
    assert ended.status_code == 204
    phone_headers = {"Authorization": f"Bearer {phone.json()['access_token']}"}
    assert (await api.get("/v1/me", headers=phone_headers)).status_code == 401
    again = await api.delete(f"/v1/me/sessions/{other['id']}", headers=customer.headers)
    assert again.status_code == 404


async def test_signing_out_everywhere_else_keeps_this_session(
    api: httpx.AsyncClient, customer: Account
) -> None:
    others = [await sign_in(api, customer.email, PASSWORD) for _ in range(2)]
    response = await api.delete("/v1/me/sessions", headers=customer.headers)
    assert response.json() == {"revoked": 2}
    for pair in others:
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        assert (await api.get("/v1/me", headers=headers)).status_code == 401
    assert (await api.get("/v1/me", headers=customer.headers)).status_code == 200


async def _latest_code(api: httpx.AsyncClient, account: Account, purpose: str) -> str:
    outbox = (await api.get("/v1/dev/outbox", headers=account.headers)).json()["data"]
    message = next(m for m in outbox if m["purpose"] == purpose)
    found = re.search(r"\b(\d{6})\b", message["body"])
    assert found is not None
    return found.group(1)


async def test_verifying_email_and_phone_lifts_the_user_to_tier_1(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_account(api, runtime, Role.customer, verified=False)
    for channel in ("email", "phone"):
        sent = await api.post(f"/v1/me/verify/{channel}/send", headers=me.headers)
        assert sent.status_code == 200, sent.text
        assert sent.json()["expires_in"] == 600
        assert me.phone not in sent.text  # the address comes back masked
    assert (await api.get("/v1/me", headers=me.headers)).json()["kyc"]["tier"] == "tier_0"

    wrong = await api.post("/v1/me/verify/phone", json={"code": "000000"}, headers=me.headers)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "code_invalid"
    phone_code = await _latest_code(api, me, "verify_phone")
    ok = await api.post("/v1/me/verify/phone", json={"code": phone_code}, headers=me.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["kyc"] == {"email_verified": False, "phone_verified": True, "tier": "tier_0"}

    email_code = await _latest_code(api, me, "verify_email")
    ok = await api.post("/v1/me/verify/email", json={"code": email_code}, headers=me.headers)
    assert ok.json()["kyc"] == {"email_verified": True, "phone_verified": True, "tier": "tier_1"}

    twice = await api.post("/v1/me/verify/email", json={"code": email_code}, headers=me.headers)
    assert twice.status_code == 409
    resend = await api.post("/v1/me/verify/email/send", headers=me.headers)
    assert resend.status_code == 409 and resend.json()["error"]["code"] == "already_verified"


async def test_an_expired_or_superseded_code_does_not_verify(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_account(api, runtime, Role.customer, verified=False)
    await api.post("/v1/me/verify/phone/send", headers=me.headers)
    first = await _latest_code(api, me, "verify_phone")
    await api.post("/v1/me/verify/phone/send", headers=me.headers)
    second = await _latest_code(api, me, "verify_phone")
    if first != second:
        stale = await api.post("/v1/me/verify/phone", json={"code": first}, headers=me.headers)
        assert stale.status_code == 400
    async with unit_of_work(runtime.sessionmaker) as session:
        await session.execute(
            update(VerificationCode)
            .where(VerificationCode.user_id == me.user_id)
            .values(expires_at=utcnow())
        )
    expired = await api.post("/v1/me/verify/phone", json={"code": second}, headers=me.headers)
    assert expired.status_code == 400


async def test_five_wrong_guesses_burn_the_code_and_attempts_are_rate_limited(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_account(api, runtime, Role.customer, verified=False)
    await api.post("/v1/me/verify/phone/send", headers=me.headers)
    code = await _latest_code(api, me, "verify_phone")
    wrong = "111111" if code != "111111" else "222222"
    for _ in range(5):
        response = await api.post("/v1/me/verify/phone", json={"code": wrong}, headers=me.headers)
        assert response.status_code == 400
    limited = await api.post("/v1/me/verify/phone", json={"code": code}, headers=me.headers)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    async with runtime.sessionmaker() as session:
        row = await session.scalar(
            select(VerificationCode).where(VerificationCode.user_id == me.user_id)
        )
    assert row is not None and row.attempts == 5


async def test_code_sends_are_limited_per_account(api: httpx.AsyncClient, runtime: Runtime) -> None:
    me = await make_account(api, runtime, Role.customer, verified=False)
    statuses = [
        (await api.post("/v1/me/verify/email/send", headers=me.headers)).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


async def test_malformed_codes_are_422(api: httpx.AsyncClient, customer: Account) -> None:
    for code in ("12345", "abcdef", "1234567"):
        response = await api.post(
            "/v1/me/verify/phone", json={"code": code}, headers=customer.headers
        )
        assert response.status_code == 422
