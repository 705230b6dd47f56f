"""Identity errors. Messages never say which part of a sign-in was wrong or whether an
account exists, beyond what the caller already proved (a right password, then the code)."""

from __future__ import annotations

from backend.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)


class InvalidToken(NotAuthenticated):
    code = "invalid_token"
    message = "The access token is invalid or has expired."


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    message = "The email or password is not right."


class OtpRequired(NotAuthenticated):
    code = "otp_required"
    message = "Enter the code from your authenticator app."


class OtpInvalid(NotAuthenticated):
    code = "otp_invalid"
    message = "That code is not right or has expired."


class OtpReused(OtpInvalid):
    code = "otp_reused"
    message = "That code was just used. Wait for the next code in your app."


class InvalidRefreshToken(NotAuthenticated):
    code = "invalid_refresh_token"
    message = "The refresh token is invalid, expired or already used; sign in again."


class AccountDisabled(Forbidden):
    code = "account_disabled"
    message = "This account is disabled. Contact support."


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


class RoleNotAllowed(Forbidden):
    code = "role_not_allowed"
    message = "Your account type may not do this."


class TwoFactorRequired(Forbidden):
    code = "two_factor_required"
    message = "Turn on two-factor authentication (Account, Security) before using admin tools."


class ApiKeyNotAccepted(Forbidden):
    code = "api_key_not_accepted"
    message = "This endpoint needs a signed-in user; API keys cannot call it."


class WeakPassword(ValidationFailed):
    code = "weak_password"


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists. Sign in instead."


class CodeInvalid(InvalidRequest):
    """A wrong code from someone already signed in: 400, not 401, since their session is fine."""

    code = "code_invalid"
    message = "That code is not right or has expired."


class CodeReused(CodeInvalid):
    code = "code_reused"
    message = "That code was just used. Wait for the next code in your app."


class PasswordIncorrect(InvalidRequest):
    code = "password_incorrect"
    message = "The password is not right."


class AlreadyVerified(Conflict):
    code = "already_verified"


class TwoFactorState(Conflict):
    code = "two_factor_state"


class SessionNotFound(NotFound):
    message = "No such session."
