"""The signed-in person's own pages: overview, email and phone verification, sessions,
password change and two-factor settings (recovery codes to copy, download or print), a
merchant's API keys, and (outside production) the dev outbox.

Every page goes through the API with the person's own token; a form's failure is shown
on the form it came from, never as a lost page.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from contract.apikeys import ApiKey as ApiKeyModel
from contract.apikeys import ApiKeyCreate, ApiKeyCreated, ApiKeyList, Scope
from contract.auth import (
    CodeSent,
    RecoveryCodes,
    SessionList,
    SessionsRevoked,
    TwoFactorCode,
    TwoFactorDisable,
    TwoFactorEnrollment,
    TwoFactorStatus,
    VerifyCode,
)
from contract.notifications import OutboxList
from contract.passwords import PasswordChange, PasswordChanged
from contract.users import Role, User, mask_phone
from web.auth import (
    field_errors,
    form_fields,
    form_items,
    login_required,
    page_status,
    path_id,
)
from web.client import ApiError, api
from web.errors import message_for
from web.runtime import runtime
from web.session import SessionKey, get_session
from web.settings import Environment
from web.templating import render

SCOPE_HELP = {
    Scope.invoices_read: "See invoices and their payments",
    Scope.invoices_write: "Create and cancel invoices",
    Scope.settlements_read: "See M-Pesa settlements",
    Scope.webhooks_write: "Manage webhook endpoints",
}


NAIROBI = ZoneInfo("Africa/Nairobi")


def when(moment: datetime) -> str:
    """East Africa Time, the way people here read it: 26 Nov 2026, 14:05."""
    return moment.astimezone(NAIROBI).strftime("%-d %b %Y, %H:%M")


def _is_dev(request: Request) -> bool:
    return runtime(request).settings.environment is not Environment.production


def _page(
    request: Request, template: str, user: User, status_code: int = 200, **context: Any
) -> Response:
    base = {
        "user": user,
        "masked_phone": mask_phone(user.phone),
        "dev": _is_dev(request),
        "when": when,
    }
    return render(request, template, {**base, **context}, status_code=status_code)


@login_required()
async def overview(request: Request, user: User) -> Response:
    return _page(request, "account/overview.html", user)


# --- verification --------------------------------------------------------------------


@login_required()
async def verify_page(request: Request, user: User) -> Response:
    return _page(request, "account/verify.html", user, errors={})


def _verify_channel(channel: str) -> Any:
    @login_required()
    async def check(request: Request, user: User) -> Response:
        code = (await form_fields(request)).get("code", "").strip()
        try:
            await api(request).post(f"/v1/me/verify/{channel}", User, VerifyCode(code=code))
        except (ApiError, ValueError) as error:
            message = (
                message_for(error)
                if isinstance(error, ApiError) and error.code != "validation_failed"
                else "Enter the 6-digit code we sent."
            )
            if isinstance(error, ApiError) and error.code == "code_invalid":
                message = "That code is not right or has expired. Send a new one and try again."
            return _page(
                request,
                "account/verify.html",
                user,
                errors={channel: message},
                status_code=page_status(error) if isinstance(error, ApiError) else 422,
            )
        label = "Email" if channel == "email" else "Phone number"
        get_session(request).flash(f"{label} verified.", "success")
        return RedirectResponse("/account/verify", status_code=303)

    @login_required()
    async def send(request: Request, user: User) -> Response:
        try:
            sent = await api(request).post(f"/v1/me/verify/{channel}/send", CodeSent)
        except ApiError as error:
            return _page(
                request,
                "account/verify.html",
                user,
                errors={channel: message_for(error)},
                status_code=page_status(error),
            )
        get_session(request).flash(f"We sent a new code to {sent.sent_to}.", "success")
        return RedirectResponse("/account/verify", status_code=303)

    check.__name__ = f"verify_{channel}"
    send.__name__ = f"send_{channel}_code"
    return check, send


verify_email, send_email_code = _verify_channel("email")
verify_phone, send_phone_code = _verify_channel("phone")


# --- sessions ------------------------------------------------------------------------


@login_required()
async def sessions_page(request: Request, user: User) -> Response:
    listed = await api(request).get("/v1/me/sessions", SessionList)
    return _page(request, "account/sessions.html", user, sessions=listed.data)


@login_required()
async def end_session(request: Request, user: User) -> Response:
    session_id = path_id(request, "session_id")
    try:
        await api(request).call("DELETE", f"/v1/me/sessions/{session_id}", None)
        get_session(request).flash("That device is signed out.", "success")
    except ApiError as error:
        get_session(request).flash(message_for(error), "error")
    return RedirectResponse("/account/sessions", status_code=303)


@login_required()
async def end_other_sessions(request: Request, user: User) -> Response:
    ended = await api(request).call("DELETE", "/v1/me/sessions", SessionsRevoked)
    noun = "device" if ended.revoked == 1 else "devices"
    get_session(request).flash(f"Signed out of {ended.revoked} other {noun}.", "success")
    return RedirectResponse("/account/sessions", status_code=303)


# --- two-factor ----------------------------------------------------------------------


async def _security(
    request: Request, user: User, status_code: int = 200, **context: Any
) -> Response:
    status = await api(request).get("/v1/me/2fa", TwoFactorStatus)
    context.setdefault("errors", {})
    context.setdefault("password_errors", {})
    return _page(request, "account/security.html", user, status_code, two_factor=status, **context)


@login_required()
async def change_password(request: Request, user: User) -> Response:
    form = await form_fields(request)
    try:
        body = PasswordChange(
            current_password=form.get("current_password", ""),
            new_password=form.get("new_password", ""),
        )
    except ValidationError:
        errors = {"form": "Enter your current password and a new one."}
        return await _security(request, user, 422, password_errors=errors)
    try:
        changed = await api(request).post("/v1/me/password", PasswordChanged, body)
    except ApiError as error:
        errors = field_errors(error)
        if error.code == "password_incorrect":
            errors = {"current_password": "That is not your current password."}
        return await _security(request, user, page_status(error), password_errors=errors)
    ended = changed.sessions_ended
    others = (
        f" We signed out {ended} other {'device' if ended == 1 else 'devices'}." if ended else ""
    )
    get_session(request).flash(f"Your password is changed.{others}", "success")
    return RedirectResponse("/account/security", status_code=303)


def _recovery_codes(request: Request, user: User, codes: list[str]) -> Response:
    """The codes, once, with a plain-text copy to download (a data: link, so the codes
    never need to be kept anywhere to serve it later)."""
    made = when(datetime.now(UTC))
    text = "\n".join(
        [
            "Qpeapay recovery codes",
            f"Account: {user.email}",
            f"Made: {made} (East Africa Time)",
            "",
            "Each code logs you in once when you cannot use your authenticator app.",
            "Getting new codes makes all of these stop working.",
            "",
            *codes,
            "",
        ]
    )
    return _page(
        request,
        "account/recovery_codes.html",
        user,
        codes=codes,
        made=made,
        download_href="data:text/plain;charset=utf-8," + quote(text),
    )


@login_required()
async def security_page(request: Request, user: User) -> Response:
    return await _security(request, user)


@login_required()
async def enroll(request: Request, user: User) -> Response:
    try:
        enrollment = await api(request).post("/v1/me/2fa/enroll", TwoFactorEnrollment)
    except ApiError as error:
        get_session(request).flash(message_for(error), "error")
        return RedirectResponse("/account/security", status_code=303)
    return _page(request, "account/two_factor_setup.html", user, enrollment=enrollment, errors={})


@login_required()
async def confirm(request: Request, user: User) -> Response:
    form = await form_fields(request)
    try:
        codes = await api(request).post(
            "/v1/me/2fa/confirm", RecoveryCodes, TwoFactorCode(code=form.get("code", "").strip())
        )
    except (ApiError, ValueError) as error:
        # The same secret and QR again, so the person can simply try the next code.
        enrollment = await api(request).get("/v1/me/2fa/enrollment", TwoFactorEnrollment)
        return _page(
            request,
            "account/two_factor_setup.html",
            user,
            enrollment=enrollment,
            errors={"code": "That code is not right. Enter the code your app shows now."},
            status_code=page_status(error) if isinstance(error, ApiError) else 422,
        )
    get_session(request).flash("Two-factor authentication is on.", "success")
    return _recovery_codes(request, user, codes.recovery_codes)


@login_required()
async def renew_codes(request: Request, user: User) -> Response:
    form = await form_fields(request)
    try:
        codes = await api(request).post(
            "/v1/me/2fa/recovery-codes",
            RecoveryCodes,
            TwoFactorCode(code=form.get("code", "").strip()),
        )
    except (ApiError, ValueError):
        return await _security(
            request, user, 400, errors={"renew": "That code is not right. Try again."}
        )
    return _recovery_codes(request, user, codes.recovery_codes)


@login_required()
async def disable(request: Request, user: User) -> Response:
    form = await form_fields(request)
    try:
        await api(request).post(
            "/v1/me/2fa/disable",
            TwoFactorStatus,
            TwoFactorDisable(password=form.get("password", ""), code=form.get("code", "").strip()),
        )
    except (ApiError, ValueError) as error:
        errors = (
            field_errors(error)
            if isinstance(error, ApiError)
            else {"code": "Enter your password and a code."}
        )
        if "code" in errors or "form" in errors:
            errors = {"disable": errors.get("code") or errors.get("form", "")}
        elif "password" in errors:
            errors = {"disable": "The password is not right."}
        return await _security(request, user, 400, errors=errors)
    get_session(request).flash("Two-factor authentication is off.", "info")
    return RedirectResponse("/account/security", status_code=303)


# --- API keys (merchants) ------------------------------------------------------------


async def _keys(request: Request, user: User, status_code: int = 200, **context: Any) -> Response:
    listed = await api(request).get("/v1/api-keys", ApiKeyList)
    context.setdefault("errors", {})
    context.setdefault(
        "values", {"scopes": [Scope.invoices_read.value, Scope.invoices_write.value]}
    )
    return _page(
        request,
        "account/api_keys.html",
        user,
        status_code,
        keys=listed.data,
        scopes=SCOPE_HELP,
        **context,
    )


# A new key's secret waits here (the session cookie is encrypted) for the one page view
# after the redirect, so reloading that page cannot post the form again and make a second key.
NEW_KEY: SessionKey[dict] = SessionKey("new_api_key", dict)  # type: ignore[type-arg]  # session values are JSON objects of any shape


@login_required(Role.merchant)
async def keys_page(request: Request, user: User) -> Response:
    new = get_session(request).pop(NEW_KEY)
    if new is None:
        return await _keys(request, user)
    return await _keys(request, user, created=ApiKeyCreated.model_validate(new))


@login_required(Role.merchant)
async def create_key(request: Request, user: User) -> Response:
    items = await form_items(request)
    name = dict(items).get("name", "").strip()
    scopes = [value for field, value in items if field == "scopes"]
    values = {"name": name, "scopes": scopes}
    try:
        body = ApiKeyCreate.model_validate({"name": name, "scopes": scopes})
    except ValueError:
        errors = (
            {"name": "Give the key a name."}
            if not name
            else {"scopes": "Pick at least one permission."}
        )
        return await _keys(request, user, 422, errors=errors, values=values)
    try:
        created = await api(request).post("/v1/api-keys", ApiKeyCreated, body)
    except ApiError as error:
        return await _keys(
            request, user, page_status(error), errors=field_errors(error), values=values
        )
    get_session(request).set(NEW_KEY, created.model_dump(mode="json"))
    return RedirectResponse("/account/api-keys", status_code=303)


@login_required(Role.merchant)
async def revoke_key(request: Request, user: User) -> Response:
    key_id = path_id(request, "key_id")
    try:
        key = await api(request).call("DELETE", f"/v1/api-keys/{key_id}", ApiKeyModel)
        get_session(request).flash(f"“{key.name}” is revoked. It stops working at once.", "success")
    except ApiError as error:
        get_session(request).flash(message_for(error), "error")
    return RedirectResponse("/account/api-keys", status_code=303)


# --- development outbox --------------------------------------------------------------


# Splits a message around its one-time codes (odd parts), so the page can make them stand out.
_CODE = re.compile(r"\b(\d{6})\b")


@login_required()
async def dev_outbox(request: Request, user: User) -> Response:
    if not _is_dev(request):
        raise HTTPException(404)
    messages = OutboxList(data=[])
    with contextlib.suppress(ApiError):
        messages = await api(request).get("/v1/dev/outbox", OutboxList)
    return _page(
        request, "account/outbox.html", user, messages=messages.data, split_codes=_CODE.split
    )


ROUTES: list[BaseRoute] = [
    Route("/account", overview, methods=["GET"], name="account"),
    Route("/account/verify", verify_page, methods=["GET"], name="verify"),
    Route("/account/verify/email", verify_email, methods=["POST"]),
    Route("/account/verify/email/send", send_email_code, methods=["POST"]),
    Route("/account/verify/phone", verify_phone, methods=["POST"]),
    Route("/account/verify/phone/send", send_phone_code, methods=["POST"]),
    Route("/account/sessions", sessions_page, methods=["GET"], name="sessions"),
    Route("/account/sessions/end-others", end_other_sessions, methods=["POST"]),
    Route("/account/sessions/{session_id}/end", end_session, methods=["POST"]),
    Route("/account/security", security_page, methods=["GET"], name="security"),
    Route("/account/security/password", change_password, methods=["POST"]),
    Route("/account/security/2fa/enroll", enroll, methods=["POST"]),
    Route("/account/security/2fa/confirm", confirm, methods=["POST"]),
    Route("/account/security/2fa/recovery-codes", renew_codes, methods=["POST"]),
    Route("/account/security/2fa/disable", disable, methods=["POST"]),
    Route("/account/api-keys", keys_page, methods=["GET"], name="api_keys"),
    Route("/account/api-keys", create_key, methods=["POST"]),
    Route("/account/api-keys/{key_id}/revoke", revoke_key, methods=["POST"]),
    Route("/dev/outbox", dev_outbox, methods=["GET"], name="dev_outbox"),
]
