"""Password reset (public, by emailed code) and password change (signed in): thin handlers
over backend.auth.passwords."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

from backend.api import Call, Endpoint
from backend.auth import passwords
from backend.auth.verification import CODE_TTL
from backend.db import unit_of_work
from backend.logs import get_logger
from backend.runtime import Runtime
from backend.users import service as users
from backend.users.access import public_limited, signed_in
from contract.passwords import (
    PasswordChange,
    PasswordChanged,
    PasswordResetAccepted,
    PasswordResetConfirm,
    PasswordResetRequest,
)

log = get_logger(__name__)


async def _send_reset_code(runtime: Runtime, email: str, ip: str) -> None:
    # After the answer has gone out, in a transaction of its own (as a job would be).
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            await passwords.send_reset_code(session, runtime, email, ip)
    except Exception:  # nobody is waiting for this answer: log it, never raise
        log.exception("password_reset.send_failed")


async def request_reset(call: Call, body: PasswordResetRequest) -> JSONResponse:
    await passwords.limit_reset_request(call.runtime, body.email, call.client_ip)
    accepted = PasswordResetAccepted(expires_in=int(CODE_TTL.total_seconds()))
    return JSONResponse(
        accepted.model_dump(mode="json"),
        status_code=202,
        background=BackgroundTask(_send_reset_code, call.runtime, body.email, call.client_ip),
    )


async def confirm_reset(call: Call, body: PasswordResetConfirm) -> PasswordChanged:
    ended = await passwords.reset(call.session, call.runtime, body, call.client_ip)
    return PasswordChanged(sessions_ended=ended)


async def change_password(call: Call, body: PasswordChange) -> PasswordChanged:
    me = call.user()
    user = await users.get(call.session, me.user_id, for_update=True)
    ended = await passwords.change(
        call.session, call.runtime, user, me.session_id, body, call.client_ip
    )
    return PasswordChanged(sessions_ended=ended)


ENDPOINTS = [
    # Public by nature: counted per IP like any public route, and per email and IP inside.
    Endpoint("POST", "/v1/auth/password-reset", request_reset, public_limited,
             "Email a password reset code (same answer for any email)",
             body=PasswordResetRequest, response=PasswordResetAccepted, status=202,
             tags=("auth",)),
    Endpoint("POST", "/v1/auth/password-reset/confirm", confirm_reset, public_limited,
             "Set a new password with the emailed code (signs out everywhere)",
             body=PasswordResetConfirm, response=PasswordChanged, errors=(400,),
             tags=("auth",)),
    Endpoint("POST", "/v1/me/password", change_password, signed_in(),
             "Change your password (signs out your other sessions)", body=PasswordChange,
             response=PasswordChanged, errors=(400,), tags=("me",)),
]  # fmt: skip  # kept compact
