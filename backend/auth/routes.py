"""Sign-up, sign-in, tokens, sessions, verification codes and 2FA: thin handlers over the
users, auth, verification and twofactor services."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.auth import service, twofactor, verification
from backend.errors import InvariantBroken
from backend.users import service as users
from backend.users.access import public_limited, signed_in
from contract.auth import (
    CodeSent,
    LoginRequest,
    RecoveryCodes,
    RefreshRequest,
    SessionInfo,
    SessionList,
    SessionsRevoked,
    TokenPair,
    TwoFactorCode,
    TwoFactorDisable,
    TwoFactorEnrollment,
    TwoFactorStatus,
    VerificationChannel,
    VerifyCode,
)
from contract.users import RegisterRequest, RegistrationAccepted, User


def _agent(call: Call) -> str:
    return call.request.headers.get("user-agent", "")


async def register(call: Call, body: RegisterRequest) -> RegistrationAccepted:
    return await users.register(
        call.session, call.runtime, body, call.client_ip, device=call.device_id
    )


async def login(call: Call, body: LoginRequest) -> TokenPair:
    return await service.login(
        call.session, call.runtime, body, call.client_ip, _agent(call), device=call.device_id
    )


async def refresh(call: Call, body: RefreshRequest) -> TokenPair:
    return await service.refresh(
        call.session, call.runtime, body.refresh_token, call.client_ip, _agent(call)
    )


async def logout(call: Call) -> None:
    me = call.user()
    if me.session_id is None:
        raise InvariantBroken("A signed-in caller has a session.")
    await service.logout(call.session, me.user_id, me.session_id, call.client_ip)


async def list_sessions(call: Call) -> SessionList:
    me = call.user()
    rows = await service.active_sessions(call.session, me.user_id)
    return SessionList(
        data=[
            SessionInfo(
                id=row.id,
                device=row.device,
                user_agent=row.user_agent,
                ip=row.ip,
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                current=row.id == me.session_id,
            )
            for row in rows
        ]
    )


async def revoke_session(call: Call) -> None:
    me = call.user()
    await service.revoke_session(call.session, me.user_id, call.path["session_id"], call.client_ip)


async def revoke_other_sessions(call: Call) -> SessionsRevoked:
    me = call.user()
    if me.session_id is None:
        raise InvariantBroken("A signed-in caller has a session.")
    count = await service.revoke_other_sessions(
        call.session, me.user_id, me.session_id, call.client_ip
    )
    return SessionsRevoked(revoked=count)


def _sender(channel: VerificationChannel) -> Endpoint:
    async def send(call: Call) -> CodeSent:
        user = await users.get(call.session, call.user().user_id)
        return await verification.send_code(call.session, call.runtime, user, channel)

    send.__name__ = f"send_{channel.value}_code"
    return Endpoint("POST", f"/v1/me/verify/{channel.value}/send", send, signed_in(),
                    f"Send a new {channel.value} verification code", response=CodeSent,
                    errors=(409,), tags=("me",))  # fmt: skip  # kept compact


def _checker(channel: VerificationChannel) -> Endpoint:
    async def check(call: Call, body: VerifyCode) -> User:
        user = await users.get(call.session, call.user().user_id, for_update=True)
        await verification.confirm(
            call.session, call.runtime, user, channel, body.code, call.client_ip
        )
        return users.to_wire(user)

    check.__name__ = f"verify_{channel.value}"
    return Endpoint("POST", f"/v1/me/verify/{channel.value}", check, signed_in(),
                    f"Verify the {channel.value} with the code we sent", body=VerifyCode,
                    response=User, errors=(409,), tags=("me",))  # fmt: skip  # kept compact


async def two_factor_status(call: Call) -> TwoFactorStatus:
    user = await users.get(call.session, call.user().user_id)
    return await twofactor.status(call.session, user)


async def two_factor_enroll(call: Call) -> TwoFactorEnrollment:
    user = await users.get(call.session, call.user().user_id, for_update=True)
    return await twofactor.enroll(call.runtime, user)


async def two_factor_pending(call: Call) -> TwoFactorEnrollment:
    user = await users.get(call.session, call.user().user_id)
    return twofactor.pending_enrollment(call.runtime, user)


async def two_factor_confirm(call: Call, body: TwoFactorCode) -> RecoveryCodes:
    user = await users.get(call.session, call.user().user_id, for_update=True)
    codes = await twofactor.confirm(call.session, call.runtime, user, body.code, call.client_ip)
    return RecoveryCodes(recovery_codes=codes)


async def two_factor_recovery_codes(call: Call, body: TwoFactorCode) -> RecoveryCodes:
    user = await users.get(call.session, call.user().user_id, for_update=True)
    codes = await twofactor.regenerate_recovery_codes(
        call.session, call.runtime, user, body.code, call.client_ip
    )
    return RecoveryCodes(recovery_codes=codes)


async def two_factor_disable(call: Call, body: TwoFactorDisable) -> TwoFactorStatus:
    user = await users.get(call.session, call.user().user_id, for_update=True)
    await twofactor.disable(
        call.session, call.runtime, user, body.password, body.code, call.client_ip
    )
    return await twofactor.status(call.session, user)


ME = signed_in()

ENDPOINTS = [
    # Sign-up and sign-in are public by nature: counted per IP like any public route, and
    # under their own tighter per-IP and per-account limits inside the services.
    Endpoint("POST", "/v1/auth/register", register, public_limited, "Create an account",
             body=RegisterRequest, response=RegistrationAccepted, status=202, tags=("auth",)),
    Endpoint("POST", "/v1/auth/login", login, public_limited, "Sign in for tokens",
             body=LoginRequest, response=TokenPair, errors=(401, 403), tags=("auth",)),
    Endpoint("POST", "/v1/auth/refresh", refresh, public_limited, "Exchange a refresh token",
             body=RefreshRequest, response=TokenPair, errors=(401, 403), tags=("auth",)),
    Endpoint("POST", "/v1/auth/logout", logout, ME, "Sign out this session", status=204,
             tags=("auth",)),
    Endpoint("GET", "/v1/me/sessions", list_sessions, ME, "Where you are signed in",
             response=SessionList, tags=("me",)),
    Endpoint("DELETE", "/v1/me/sessions", revoke_other_sessions, ME,
             "Sign out every other session", response=SessionsRevoked, tags=("me",)),
    Endpoint("DELETE", "/v1/me/sessions/{session_id}", revoke_session, ME,
             "Sign out one session", status=204, errors=(404,), tags=("me",)),
    *(_sender(channel) for channel in VerificationChannel),
    *(_checker(channel) for channel in VerificationChannel),
    Endpoint("GET", "/v1/me/2fa", two_factor_status, ME, "Two-factor status",
             response=TwoFactorStatus, tags=("me",)),
    Endpoint("POST", "/v1/me/2fa/enroll", two_factor_enroll, ME, "Start TOTP enrolment",
             response=TwoFactorEnrollment, errors=(409,), tags=("me",)),
    Endpoint("GET", "/v1/me/2fa/enrollment", two_factor_pending, ME,
             "The enrolment waiting for its first code", response=TwoFactorEnrollment,
             errors=(409,), tags=("me",)),
    Endpoint("POST", "/v1/me/2fa/confirm", two_factor_confirm, ME,
             "Turn 2FA on with a first code", body=TwoFactorCode, response=RecoveryCodes,
             errors=(409,), tags=("me",)),
    Endpoint("POST", "/v1/me/2fa/recovery-codes", two_factor_recovery_codes, ME,
             "Replace the recovery codes", body=TwoFactorCode, response=RecoveryCodes,
             errors=(409,), tags=("me",)),
    Endpoint("POST", "/v1/me/2fa/disable", two_factor_disable, ME,
             "Turn 2FA off with password and code", body=TwoFactorDisable,
             response=TwoFactorStatus, errors=(409,), tags=("me",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
