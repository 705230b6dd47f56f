"""Accounts on the wire: roles, registration, the signed-in user and their KYC standing.

Invariants: emails travel lower-cased and trimmed; phones are Kenyan mobiles in E.164.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

import phonenumbers
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from contract.base import RequestModel, ResponseModel
from contract.kyc import KycTier


class Role(StrEnum):
    customer = "customer"
    merchant = "merchant"
    admin = "admin"


class AccountType(StrEnum):
    """What a person may sign up as; admins are made, never registered."""

    customer = "customer"
    merchant = "merchant"


# Deliberately plain: one @, a dotted domain, no spaces or quotes. Deliverability is
# proven by the verification code, not by a regex.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_EMAIL = re.compile(rf"^[a-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email) or ".." in email:
        raise PydanticCustomError(
            "invalid_email", "Enter a valid email address, like name@example.com."
        )
    return email


_PHONE_HINT = "Enter a Kenyan mobile number, like 0712 345 678."


def normalise_kenyan_mobile(value: str) -> str:
    """07…, 01…, +254… or 254… → +2547XXXXXXXX / +2541XXXXXXXX; anything else is refused."""
    raw = re.sub(r"[\s().-]", "", value)
    if raw.startswith("254"):
        raw = "+" + raw
    try:
        number = phonenumbers.parse(raw, "KE")
    except phonenumbers.NumberParseException as exc:
        raise PydanticCustomError("invalid_phone", _PHONE_HINT) from exc
    mobile_types = (phonenumbers.PhoneNumberType.MOBILE,)
    if (
        phonenumbers.region_code_for_number(number) != "KE"
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in mobile_types
    ):
        raise PydanticCustomError("invalid_phone", _PHONE_HINT)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """+254712345678 → +254 7** *** 678: enough for a person to recognise their own number."""
    return f"{e164[:4]} {e164[4]}** *** {e164[-3:]}"


class RegisterRequest(RequestModel):
    email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=256)
    phone: str = Field(max_length=32)
    account_type: AccountType
    business_name: str | None = Field(default=None, max_length=120, validate_default=True)

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("phone")
    @classmethod
    def _normalise_phone(cls, value: str) -> str:
        return normalise_kenyan_mobile(value)

    @field_validator("business_name")
    @classmethod
    def _merchant_has_a_business(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("account_type") is not AccountType.merchant:
            return None
        if not value:
            raise PydanticCustomError(
                "business_name_required", "Merchants register with their business name."
            )
        return value


class Kyc(ResponseModel):
    email_verified: bool
    phone_verified: bool
    tier: KycTier


class User(ResponseModel):
    id: str
    email: str
    phone: str = Field(description="E.164, e.g. +254712345678")
    role: Role
    business_name: str | None = None
    kyc: Kyc
    two_factor_enabled: bool
    disabled: bool = False
    created_at: datetime


class UserEnvelope(ResponseModel):
    user: User


class RegistrationAccepted(ResponseModel):
    """The answer to every well-formed registration, whether or not the email already had
    an account, so registering never tells a stranger who is a customer: the next step
    (verification codes, or a notice to the existing owner) is in that inbox."""

    email: str = Field(description="Where the next step was sent (normalised)")
    message: str


class AdminUserQuery(RequestModel):
    q: str | None = Field(default=None, max_length=254, description="Part of an email, or a phone")
    role: Role | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class KycChange(RequestModel):
    tier: KycTier = Field(description="tier_2 records that an admin checked identity documents")
    note: str = Field(min_length=3, max_length=500, description="Why, for the audit log")


class DisableUser(RequestModel):
    reason: str = Field(min_length=3, max_length=200)


class EnableUser(RequestModel):
    note: str = Field(min_length=3, max_length=500)
