"""Forgotten password: ask for a code by email, then set a new password with it and go back
to the login page. Plain forms, no script, so they stay quick on any phone.

Invariants: the pages say the same whether or not an account uses the email; the email
typed on the first page waits in the encrypted session (never the URL) for the second;
a reset ends every session, this browser's too, so its tokens are dropped.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from contract.passwords import (
    PasswordChanged,
    PasswordResetAccepted,
    PasswordResetConfirm,
    PasswordResetRequest,
)
from web.auth import field_errors, form_fields, page_status
from web.client import ApiError, api
from web.session import SessionKey, get_session
from web.templating import render

RESET_EMAIL: SessionKey[str] = SessionKey("password_reset_email", str)
CODE_HINT = "Enter the 6-digit code from the email."
CODE_WRONG = "That code is not right or has expired. Check our newest email, or ask for a new code."
# These limits count per hour, so "wait a minute" (the general message) would mislead.
TOO_MANY = {
    "forgot": "Too many codes were asked for. Check your email, spam too, or try again later.",
    "reset": "Too many tries for this email. Wait a while, then ask for a new code.",
}


def _errors(error: ApiError, page: str) -> dict[str, str]:
    if error.code == "rate_limited":
        return {"form": TOO_MANY[page]}
    if error.code == "code_invalid":
        return {"code": CODE_WRONG}
    return field_errors(error)


def _first_error(exc: ValidationError) -> dict[str, str]:
    first = exc.errors()[0]
    param = str(first["loc"][0]) if first["loc"] else "form"
    return {param: CODE_HINT if param == "code" else first["msg"]}


async def forgot_page(request: Request) -> Response:
    values = {"email": get_session(request).get(RESET_EMAIL) or ""}
    return render(request, "auth/forgot_password.html", {"values": values, "errors": {}})


async def forgot(request: Request) -> Response:
    email = (await form_fields(request)).get("email", "")
    context = {"values": {"email": email}}
    try:
        body = PasswordResetRequest(email=email)
    except ValidationError as exc:
        errors = _first_error(exc)
        return render(
            request, "auth/forgot_password.html", {**context, "errors": errors}, status_code=422
        )
    try:
        await api(request).post("/v1/auth/password-reset", PasswordResetAccepted, body, auth=False)
    except ApiError as error:
        return render(
            request,
            "auth/forgot_password.html",
            {**context, "errors": _errors(error, "forgot")},
            status_code=page_status(error),
        )
    get_session(request).set(RESET_EMAIL, body.email)
    return RedirectResponse("/login/reset", status_code=303)


async def reset_page(request: Request) -> Response:
    email = get_session(request).get(RESET_EMAIL) or ""
    context = {"values": {"email": email}, "errors": {}, "sent_to": email}
    return render(request, "auth/reset_password.html", context)


async def reset(request: Request) -> Response:
    form = await form_fields(request)
    email = form.get("email", "")
    session = get_session(request)
    context = {"values": {"email": email}, "sent_to": session.get(RESET_EMAIL) or ""}
    try:
        body = PasswordResetConfirm(
            email=email,
            code="".join(form.get("code", "").split()),  # "123 456" as the email shows it
            new_password=form.get("new_password", ""),
        )
    except ValidationError as exc:
        errors = _first_error(exc)
        return render(
            request, "auth/reset_password.html", {**context, "errors": errors}, status_code=422
        )
    try:
        await api(request).post(
            "/v1/auth/password-reset/confirm", PasswordChanged, body, auth=False
        )
    except ApiError as error:
        return render(
            request,
            "auth/reset_password.html",
            {**context, "errors": _errors(error, "reset")},
            status_code=page_status(error),
        )
    session.clear()  # every session of the account has ended, this browser's included
    session.flash("Your password is changed. Log in with your new password.", "success")
    return RedirectResponse("/login", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/login/forgot", forgot_page, methods=["GET"], name="forgot_password"),
    Route("/login/forgot", forgot, methods=["POST"]),
    Route("/login/reset", reset_page, methods=["GET"], name="reset_password"),
    Route("/login/reset", reset, methods=["POST"]),
]
