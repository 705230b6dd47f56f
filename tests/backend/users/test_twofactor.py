"""TOTP 2FA: enrol (URI + QR), confirm, required at sign-in, no replays, recovery codes
that work once, and turning it off only with password and code — each change audited."""

from __future__ import annotations

import time

import httpx
import pyotp
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.runtime import Runtime
from backend.users.models import User
from contract.users import Role
from tests.identity import PASSWORD, Account, make_account


async def _enable(api: httpx.AsyncClient, account: Account) -> tuple[pyotp.TOTP, list[str]]:
    enrolment = await api.post("/v1/me/2fa/enroll", headers=account.headers)
    assert enrolment.status_code == 200, enrolment.text
    data = enrolment.json()
    assert data["otpauth_uri"].startswith("otpauth://totp/Qpeapay:")
    assert data["qr_svg"].startswith("<svg") and "</svg>" in data["qr_svg"]
    totp = pyotp.TOTP(data["secret"])
    pending = (await api.get("/v1/me/2fa", headers=account.headers)).json()
    assert pending == {"enabled": False, "pending": True, "recovery_codes_left": 0}
    confirmed = await api.post(
        "/v1/me/2fa/confirm", json={"code": totp.now()}, headers=account.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return totp, confirmed.json()["recovery_codes"]


def _next_code(totp: pyotp.TOTP) -> str:
    """A code for the following time step: the current one was spent by the last call."""
    return totp.at(time.time() + totp.interval)


async def _login(api: httpx.AsyncClient, email: str, otp: str | None = None) -> httpx.Response:
    body = {"email": email, "password": PASSWORD}
    if otp is not None:
        body["otp"] = otp
    return await api.post("/v1/auth/login", json=body)


async def test_enrolment_stores_the_secret_sealed_and_confirm_turns_2fa_on(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    totp, codes = await _enable(api, customer)
    assert len(codes) == 10 and len(set(codes)) == 10
    async with runtime.sessionmaker() as session:
        user = await session.get(User, customer.user_id)
    assert user is not None and user.totp_secret_sealed is not None
    assert totp.secret not in user.totp_secret_sealed
    status = (await api.get("/v1/me/2fa", headers=customer.headers)).json()
    assert status == {"enabled": True, "pending": False, "recovery_codes_left": 10}
    me = (await api.get("/v1/me", headers=customer.headers)).json()
    assert me["two_factor_enabled"] is True


async def test_a_wrong_first_code_leaves_the_same_enrolment_waiting(
    api: httpx.AsyncClient, customer: Account
) -> None:
    none_yet = await api.get("/v1/me/2fa/enrollment", headers=customer.headers)
    assert none_yet.status_code == 409
    started = (await api.post("/v1/me/2fa/enroll", headers=customer.headers)).json()
    wrong = await api.post("/v1/me/2fa/confirm", json={"code": "000000"}, headers=customer.headers)
    assert wrong.status_code == 400
    assert (await api.get("/v1/me/2fa", headers=customer.headers)).json()["enabled"] is False
    again = await api.get("/v1/me/2fa/enrollment", headers=customer.headers)
    assert again.json()["secret"] == started["secret"]
    assert again.json()["otpauth_uri"] == started["otpauth_uri"]


async def test_sign_in_needs_the_code_once_2fa_is_on_and_a_code_works_once(
    api: httpx.AsyncClient, customer: Account
) -> None:
    totp, _ = await _enable(api, customer)
    missing = await _login(api, customer.email)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "otp_required"
    assert (await _login(api, customer.email, "123456")).json()["error"]["code"] == "otp_invalid"
    code = _next_code(totp)
    assert (await _login(api, customer.email, code)).status_code == 200
    # The same code again is "wait for the next one", not "that code is not right".
    replay = await _login(api, customer.email, code)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "otp_reused"
    assert "wait for the next code" in replay.json()["error"]["message"].lower()


async def test_a_code_just_used_is_told_apart_from_a_wrong_one_everywhere(
    api: httpx.AsyncClient, customer: Account
) -> None:
    totp, _ = await _enable(api, customer)
    # The confirming code's step is spent: renewing recovery codes with it is "just used".
    reused = await api.post(
        "/v1/me/2fa/recovery-codes", json={"code": totp.now()}, headers=customer.headers
    )
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "code_reused"
    wrong = "000000" if totp.now() != "000000" else "111111"
    bad = await api.post(
        "/v1/me/2fa/recovery-codes", json={"code": wrong}, headers=customer.headers
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "code_invalid"


async def test_verification_guesses_and_code_sends_leave_the_2fa_tries_alone(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    me = await make_account(api, runtime, Role.customer, verified=False)
    totp, _ = await _enable(api, me)
    sends = [
        (await api.post("/v1/me/verify/phone/send", headers=me.headers)).status_code
        for _ in range(4)
    ]
    assert sends == [200, 200, 200, 429]
    guesses = [
        (
            await api.post("/v1/me/verify/email", json={"code": "000000"}, headers=me.headers)
        ).status_code
        for _ in range(6)
    ]
    assert guesses[-1] == 429  # email codes have their own limit, now used up
    signed_in = await _login(api, me.email, _next_code(totp))
    assert signed_in.status_code == 200, signed_in.text


async def test_wrong_password_with_2fa_on_is_still_just_invalid_credentials(
    api: httpx.AsyncClient, customer: Account
) -> None:
    await _enable(api, customer)
    response = await api.post(
        "/v1/auth/login", json={"email": customer.email, "password": "wrong password!!"}
    )
    assert response.json()["error"]["code"] == "invalid_credentials"


async def test_a_recovery_code_signs_in_once(api: httpx.AsyncClient, customer: Account) -> None:
    _, codes = await _enable(api, customer)
    assert (await _login(api, customer.email, codes[0].upper())).status_code == 200
    assert (await _login(api, customer.email, codes[0])).status_code == 401
    status = (await api.get("/v1/me/2fa", headers=customer.headers)).json()
    assert status["recovery_codes_left"] == 9


async def test_disabling_needs_password_and_code(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    totp, _ = await _enable(api, customer)
    no_password = await api.post(
        "/v1/me/2fa/disable",
        json={"password": "not my password", "code": _next_code(totp)},
        headers=customer.headers,
    )
    assert no_password.status_code == 400
    assert no_password.json()["error"]["code"] == "password_incorrect"
    no_code = await api.post(
        "/v1/me/2fa/disable", json={"password": PASSWORD, "code": "000000"},
        headers=customer.headers,
    )  # fmt: skip
    assert no_code.status_code == 400
    off = await api.post(
        "/v1/me/2fa/disable",
        json={"password": PASSWORD, "code": _next_code(totp)},
        headers=customer.headers,
    )
    assert off.status_code == 200, off.text
    assert off.json() == {"enabled": False, "pending": False, "recovery_codes_left": 0}
    assert (await _login(api, customer.email)).status_code == 200
    async with runtime.sessionmaker() as session:
        actions = set(
            (await session.scalars(select(AuditEvent.action).where(
                AuditEvent.subject_user_id == customer.user_id))).all()
        )  # fmt: skip
    assert {"2fa.enabled", "2fa.disabled"} <= actions


async def test_recovery_codes_can_be_replaced(api: httpx.AsyncClient, customer: Account) -> None:
    totp, old = await _enable(api, customer)
    renewed = await api.post(
        "/v1/me/2fa/recovery-codes", json={"code": _next_code(totp)}, headers=customer.headers
    )
    assert renewed.status_code == 200
    assert not set(renewed.json()["recovery_codes"]) & set(old)
    assert (await _login(api, customer.email, old[1])).status_code == 401


async def test_enrolling_twice_once_on_is_a_conflict(
    api: httpx.AsyncClient, customer: Account
) -> None:
    await _enable(api, customer)
    again = await api.post("/v1/me/2fa/enroll", headers=customer.headers)
    assert again.status_code == 409
