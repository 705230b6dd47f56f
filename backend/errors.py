"""One error tree. Services raise these; one handler renders them as the contract ErrorBody."""

from __future__ import annotations

from typing import Any

from contract.errors import ErrorBody, ErrorDetail


class QpeapayError(Exception):
    status: int = 500
    type: str = "api_error"
    code: str = "internal_error"
    message: str = "Something went wrong on our side."

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.message = message or self.message
        self.param = param
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.message)

    def body(self, reference: str | None = None) -> ErrorBody:
        return ErrorBody(
            error=ErrorDetail(
                type=self.type,
                code=self.code,
                message=self.message,
                param=self.param,
                reference=reference,
            )
        )


class InvalidRequest(QpeapayError):
    status, type, code = 400, "invalid_request_error", "invalid_request"
    message = "The request is not valid."


class InvalidJson(InvalidRequest):
    code, message = "invalid_json", "The body is not valid JSON."


class JsonTooDeep(InvalidRequest):
    code = "json_too_deep"


class InvalidCharacters(InvalidRequest):
    code = "invalid_characters"
    message = "Text may not contain NUL, other control characters or lone surrogates."


class ValidationFailed(QpeapayError):
    status, type, code = 422, "invalid_request_error", "validation_failed"


class UnsupportedMediaType(QpeapayError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"
    message = "Send the body as application/json."


class BodyTooLarge(QpeapayError):
    status, type, code = 413, "invalid_request_error", "body_too_large"
    message = "The body is larger than this API accepts."


class NotAuthenticated(QpeapayError):
    status, type, code = 401, "authentication_error", "not_authenticated"
    message = "Authentication is required."


class Forbidden(QpeapayError):
    status, type, code = 403, "permission_error", "forbidden"
    message = "You may not do this."


class NotFound(QpeapayError):
    status, type, code = 404, "invalid_request_error", "not_found"
    message = "No such resource."


class MethodNotAllowed(QpeapayError):
    status, type, code = 405, "invalid_request_error", "method_not_allowed"
    message = "This method is not allowed here."


class Conflict(QpeapayError):
    status, type, code = 409, "invalid_request_error", "conflict"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request."


class IdempotencyKeyInvalid(InvalidRequest):
    code = "idempotency_key_invalid"
    message = "Idempotency-Key must be 1 to 255 printable characters."


class InvalidTransition(Conflict):
    code = "invalid_transition"


class RateLimited(QpeapayError):
    status, type, code = 429, "rate_limit_error", "rate_limited"
    message = "Too many requests; try again later."


class ServiceUnavailable(QpeapayError):
    status, type, code = 503, "api_error", "service_unavailable"
    message = "A system this request needs is unavailable."


class Busy(ServiceUnavailable):
    code, message = "busy", "We are busy right now; try again in a moment."


class InvariantBroken(QpeapayError):
    """Something our own code guarantees did not hold (a row that must exist, a value that
    must be set): a bug, rendered as a plain 500 and never silently skipped, as an `assert`
    would be under `python -O`."""
