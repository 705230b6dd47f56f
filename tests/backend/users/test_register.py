"""Registration: normalised email, Kenyan mobiles in every accepted form, the password
policy, duplicates, and the verification codes sent through the outbox."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from backend.notifications.models import Notification
from backend.runtime import Runtime
from backend.users.models import User
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


async def test_register_normalises_email_and_phone_and_answers_201(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await api.post("/v1/auth/register", json=body())
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert user["email"] == "wanjiru.kamau@example.com"
    assert user["phone"] == "+254712345678"
    assert user["role"] == "customer"
    assert user["kyc"] == {"email_verified": False, "phone_verified": False, "tier": "tier_0"}
    assert user["id"].startswith("usr_")
    async with runtime.sessionmaker() as session:
        stored = await session.scalar(select(User).where(User.id == user["id"]))
        assert stored is not None and stored.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    "phone", ["0712345678", "+254712345678", "254712345678", "0110123456", "+254 110 123 456"]
)
async def test_every_kenyan_mobile_form_is_stored_in_e164(
    api: httpx.AsyncClient, phone: str
) -> None:
    response = await api.post("/v1/auth/register", json=body(phone=phone))
    assert response.status_code == 201, response.text
    assert response.json()["user"]["phone"].startswith("+2547") or response.json()["user"][
        "phone"
    ].startswith("+2541")


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


async def test_duplicate_email_is_409_and_says_nothing_about_the_account(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.post("/v1/auth/register", json=body())).status_code == 201
    again = await api.post(
        "/v1/auth/register",
        json=body(email="WANJIRU.KAMAU@example.com", phone="0722000111", account_type="merchant",
                  business_name="Mama Mboga"),
    )  # fmt: skip
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "email_taken" and error["param"] == "email"
    assert "0712" not in again.text and "+254" not in again.text and "usr_" not in again.text


async def test_merchant_registers_with_business_name(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/auth/register",
        json=body(account_type="merchant", business_name="Kamau Hardware"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["user"]["business_name"] == "Kamau Hardware"
    assert response.json()["user"]["role"] == "merchant"


async def test_registration_sends_email_and_sms_codes_to_the_outbox(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    user_id = (await api.post("/v1/auth/register", json=body())).json()["user"]["id"]
    async with runtime.sessionmaker() as session:
        sent = (
            await session.scalars(select(Notification).where(Notification.user_id == user_id))
        ).all()
    assert sorted((m.channel, m.purpose) for m in sent) == [
        ("email", "verify_email"),
        ("sms", "verify_phone"),
    ]
    assert {m.recipient for m in sent} == {"wanjiru.kamau@example.com", "+254712345678"}


async def test_registration_is_rate_limited_per_ip(api: httpx.AsyncClient) -> None:
    statuses = []
    for n in range(11):
        response = await api.post(
            "/v1/auth/register", json=body(email=f"person{n}@example.com", phone="0712345678")
        )
        statuses.append(response.status_code)
    assert statuses[:10] == [201] * 10
    assert statuses[10] == 429
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"]["code"] == "rate_limited"
