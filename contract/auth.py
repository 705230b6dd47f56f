"""Signing in on the wire: login, tokens, sessions, verification codes and TOTP 2FA."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator

from contract.base import RequestModel, ResponseModel
from contract.users import normalise_email


class LoginRequest(RequestModel):
    email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=256)
    otp: str | None = Field(
        default=None,
        max_length=32,
        description="The authenticator code (6 digits) or a recovery code, once 2FA is on",
    )

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        return normalise_email(value)


class TokenPair(ResponseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int = Field(description="Seconds until the access token expires")


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class SessionInfo(ResponseModel):
    id: str
    device: str
    user_agent: str
    ip: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


class SessionList(ResponseModel):
    data: list[SessionInfo]


class SessionsRevoked(ResponseModel):
    revoked: int


class VerificationChannel(StrEnum):
    email = "email"
    phone = "phone"


class VerifyCode(RequestModel):
    code: str = Field(pattern=r"^\d{6}$", description="The 6-digit code we sent")


class CodeSent(ResponseModel):
    channel: VerificationChannel
    sent_to: str = Field(description="Masked address the code went to")
    expires_in: int


class TwoFactorStatus(ResponseModel):
    enabled: bool
    pending: bool = Field(description="Enrolment started, waiting for the first code")
    recovery_codes_left: int


class TwoFactorEnrollment(ResponseModel):
    secret: str = Field(description="Base32 secret, for typing into an app by hand")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as an inline SVG QR code")


class TwoFactorCode(RequestModel):
    code: str = Field(min_length=6, max_length=32)


class RecoveryCodes(ResponseModel):
    recovery_codes: list[str] = Field(description="Shown once; each signs in one time")


class TwoFactorDisable(RequestModel):
    password: str = Field(min_length=1, max_length=256)
    code: str = Field(min_length=6, max_length=32)
