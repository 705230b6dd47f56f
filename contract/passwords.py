"""Setting a new password on the wire: a reset by emailed code, or a change while signed in."""

from __future__ import annotations

from pydantic import Field, field_validator

from contract.base import RequestModel, ResponseModel
from contract.users import normalise_email


class PasswordResetRequest(RequestModel):
    email: str = Field(max_length=254)

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        return normalise_email(value)


class PasswordResetAccepted(ResponseModel):
    """The same answer whether or not an account uses the email, so it reveals nothing."""

    message: str = "If an account uses this email, we sent it a code to reset the password."
    expires_in: int = Field(description="Seconds a sent code stays valid")


class PasswordResetConfirm(RequestModel):
    email: str = Field(max_length=254)
    code: str = Field(pattern=r"^\d{6}$", description="The 6-digit code we emailed")
    new_password: str = Field(min_length=1, max_length=256)

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        return normalise_email(value)


class PasswordChange(RequestModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordChanged(ResponseModel):
    sessions_ended: int = Field(description="Sessions signed out by the change")
