"""Registration: normalised email, Kenyan mobiles in every accepted form, the password
policy, duplicates answered like anyone else (the owner is told by email), the verification
codes sent through the outbox, and limits that let a carrier-NAT address through."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from backend.auth import sealing
from backend.notifications.models import Notification
from backend.runtime import Runtime
from backend.settings import Settings
from backend.users.models import User
from contract import forwarding
from tests.identity import PASSWORD


def body(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "email": "  Wanjiru.Kamau@Example.COM ",
        "password": PASSWORD,
        "phone": "0712 345 678",
        "account_type": "customer",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


async def _stored(runtime: Runtime, email: str) -> User:
    async with runtime.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


async def test_register_normalises_email_and_phone_and_answers_202(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await api.post("/v1/auth/register", json=body())
    assert response.status_code == 202, response.text
    assert response.json()["email"] == "wanjiru.kamau@example.com"
    stored = await _stored(runtime, "wanjiru.kamau@example.com")
    assert stored.phone == "+254712345678"
    assert stored.role == "customer" and stored.id.startswith("usr_")
    assert stored.email_verified_at is None and stored.phone_verified_at is None
    assert stored.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    "phone", ["0712345678", "+254712345678", "254712345678", "0110123456", "+254 110 123 456"]
)
async def test_every_kenyan_mobile_form_is_stored_in_e164(
    api: httpx.AsyncClient, runtime: Runtime, phone: str
) -> None:
    response = await api.post("/v1/auth/register", json=body(phone=phone))
    assert response.status_code == 202, response.text
    stored = await _stored(runtime, "wanjiru.kamau@example.com")
    assert stored.phone in ("+254712345678", "+254110123456")


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"phone": "0201234567"}, "phone"),  # a Nairobi landline
        ({"phone": "+255712345678"}, "phone"),  # Tanzania
        ({"phone": "07123"}, "phone"),
        ({"phone": "hello"}, "phone"),
        ({"account_type": "admin"}, "account_type"),
        ({"account_type": "merchant"}, "business_name"),
        ({"extra": "field"}, "extra"),
    ],
)
async def test_malformed_input_is_a_422_naming_the_field(
    api: httpx.AsyncClient, changes: dict[str, object], param: str
) -> None:
    response = await api.post("/v1/auth/register", json=body(**changes))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["code"] == "validation_failed"


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short1!", "at least 12"),
        ("password1234", "too common"),
        ("P@ssw0rd2024!!", "too common"),
        ("qwertyuiop123", "too common"),
        ("wanjiru.kamau-rocks", "email"),
    ],
)
async def test_weak_passwords_are_refused(api: httpx.AsyncClient, password: str, why: str) -> None:
    response = await api.post("/v1/auth/register", json=body(password=password))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("weak_password", "password")
    assert why in error["message"]


async def test_a_taken_email_gets_the_same_answer_and_its_owner_an_email(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    first = await api.post("/v1/auth/register", json=body())
    again = await api.post(
        "/v1/auth/register",
        json=body(email="WANJIRU.KAMAU@example.com", phone="0722000111", account_type="merchant",
                  business_name="Mama Mboga"),
    )  # fmt: skip
    fresh = await api.post("/v1/auth/register", json=body(email="someone.new@example.com"))
    assert first.status_code == again.status_code == fresh.status_code == 202
    assert again.json() == first.json()
    assert again.json().keys() == fresh.json().keys()
    owner = await _stored(runtime, "wanjiru.kamau@example.com")
    assert owner.role == "customer" and owner.phone == "+254712345678"  # nothing changed
    async with runtime.sessionmaker() as session:
        sent = (
            await session.scalars(select(Notification).where(Notification.user_id == owner.id))
        ).all()
    assert sorted(m.purpose for m in sent) == [
        "registration_existing", "verify_email", "verify_phone",
    ]  # fmt: skip
    notice = next(m for m in sent if m.purpose == "registration_existing")
    assert notice.recipient == owner.email and "sign in" in notice.body


async def test_merchant_registers_with_business_name(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await api.post(
        "/v1/auth/register",
        json=body(account_type="merchant", business_name="Kamau Hardware"),
    )
    assert response.status_code == 202, response.text
    stored = await _stored(runtime, "wanjiru.kamau@example.com")
    assert (stored.role, stored.business_name) == ("merchant", "Kamau Hardware")


async def test_registration_sends_email_and_sms_codes_to_the_outbox(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await api.post("/v1/auth/register", json=body())
    user_id = (await _stored(runtime, "wanjiru.kamau@example.com")).id
    async with runtime.sessionmaker() as session:
        sent = (
            await session.scalars(select(Notification).where(Notification.user_id == user_id))
        ).all()
    assert sorted((m.channel, m.purpose) for m in sent) == [
        ("email", "verify_email"),
        ("sms", "verify_phone"),
    ]
    assert {m.recipient for m in sent} == {"wanjiru.kamau@example.com", "+254712345678"}


def _vouched(settings: Settings, device: str) -> dict[str, str]:
    """What the web app adds for a browser on a carrier address, with its device cookie."""
    key = sealing.derive_key(settings, forwarding.PURPOSE)
    client = forwarding.Client("197.248.33.44", device)
    return {forwarding.CLIENT_HEADER: forwarding.client_header(key, client, int(time.time()))}


async def test_one_carrier_address_registers_many_people_but_not_one_device_many_times(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """Carrier NAT: fifty people on one address, each on their own phone, all get in; one
    device creating account after account is stopped."""
    for n in range(50):
        answer = await api.post(
            "/v1/auth/register",
            json=body(email=f"person{n}@example.com"),
            headers=_vouched(settings, f"device-{n:04d}-abcdefghijkl"),
        )
        assert answer.status_code == 202, (n, answer.text)
    hammering = [
        (
            await api.post(
                "/v1/auth/register",
                json=body(email=f"bot{n}@example.com"),
                headers=_vouched(settings, "one-device-abcdefghijkl"),
            )
        ).status_code
        for n in range(6)
    ]
    assert hammering == [202] * 5 + [429]


async def test_a_direct_caller_is_limited_like_one_device(api: httpx.AsyncClient) -> None:
    statuses = []
    for n in range(6):
        response = await api.post(
            "/v1/auth/register",
            json=body(email=f"person{n}@example.com"),
            headers={"X-Forwarded-For": f"203.0.113.{n}"},  # believed by no one
        )
        statuses.append(response.status_code)
    assert statuses == [202] * 5 + [429]
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"]["code"] == "rate_limited"


async def test_one_email_is_registered_at_most_three_times_an_hour(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """So registering cannot flood an owner's inbox with notices."""
    statuses = [
        (
            await api.post(
                "/v1/auth/register",
                json=body(),
                headers=_vouched(settings, f"device-{n:04d}-abcdefghijkl"),
            )
        ).status_code
        for n in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
