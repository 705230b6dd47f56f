"""What a person sees when something fails: API error codes mapped to plain words, error
pages for full loads, and flash fragments for htmx requests. Never a traceback."""

from __future__ import annotations

from http import HTTPStatus

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from contract.ids import new_id
from web.client import ApiError
from web.session import Flash
from web.templating import is_htmx, render

log = structlog.get_logger("web")

# API error code → what we tell a person; codes not listed show the API's own message.
MESSAGES: dict[str, str] = {
    "not_authenticated": "Your session has ended. Please sign in again.",
    "forbidden": "Your account is not allowed to do that.",
    "not_found": "We could not find that. It may have been removed.",
    "rate_limited": "Too many attempts. Wait a little, then try again.",
    "idempotency_key_reused": "That form was already sent. Reload the page to start again.",
    "validation_failed": "Some details are not right. Check the form and try again.",
    "internal_error": "Something went wrong on our side. Please try again.",
    "service_unavailable": "Qpeapay is briefly unavailable. Please try again in a moment.",
    "api_unreachable": "Qpeapay is briefly unavailable. Please try again in a moment.",
    "api_timeout": "That took too long. Please try again.",
    "bad_gateway": "Something went wrong on our side. Please try again.",
}


def message_for(error: ApiError) -> str:
    if error.code == "rate_limited" and error.retry_after:
        return f"Too many attempts. Wait {wait_words(error.retry_after)}, then try again."
    return MESSAGES.get(error.code, error.error.message)


def wait_words(seconds: int) -> str:
    """45 → "45 seconds", 61 → "2 minutes", 7200 → "2 hours": never less than the wait."""
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = -(-seconds // 60)
    if minutes < 60:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    hours = -(-seconds // 3600)
    return "1 hour" if hours == 1 else f"{hours} hours"


def render_error(
    request: Request,
    status: int,
    message: str,
    *,
    title: str | None = None,
    reference: str | None = None,
) -> Response:
    """A full error page, or for htmx a flash message swapped into the page's #flash area
    (htmx is configured to swap 4xx/5xx answers)."""
    title = title or HTTPStatus(status).phrase
    if is_htmx(request):
        text = f"{message} (reference {reference})" if reference else message
        return render(
            request,
            "partials/flash.html",
            {"messages": [Flash("error", text)]},
            status_code=status,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
        )
    context = {"status": status, "title": title, "message": message, "reference": reference}
    return render(request, "error.html", context, status_code=status)


async def csrf_rejected(request: Request) -> Response:
    log.info("csrf.rejected", path=request.url.path, method=request.method)
    return render_error(
        request,
        403,
        "This form has expired or did not come from Qpeapay. "
        "Go back, reload the page and try again.",
        title="Please reload and try again",
    )


async def origin_rejected(request: Request) -> Response:
    log.info("origin.rejected", path=request.url.path, method=request.method)
    return render_error(
        request,
        403,
        "For your safety Qpeapay only accepts forms sent from its own pages, and this one "
        "came from somewhere else (or did not say where it came from). Open Qpeapay "
        "yourself, then try again.",
        title="This form did not come from Qpeapay",
    )


async def http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        raise TypeError("registered for HTTPException only")
    if exc.status_code == 404:
        return render_error(
            request, 404, "There is no page at this address.", title="Page not found"
        )
    return render_error(request, exc.status_code, str(exc.detail))


async def api_error(request: Request, exc: Exception) -> Response:
    """An ApiError a page did not handle itself."""
    if not isinstance(exc, ApiError):
        raise TypeError("registered for ApiError only")
    reference = exc.error.reference
    if exc.status >= 500:
        log.warning("api.failed", code=exc.code, status=exc.status, reference=reference)
    response = render_error(request, exc.status, message_for(exc), reference=reference)
    if exc.retry_after:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    reference = new_id("err")
    log.error("request.failed", reference=reference, path=request.url.path, exc_info=exc)
    return render_error(
        request,
        500,
        "Something went wrong on our side. If it keeps happening, tell us this reference.",
        title="Something went wrong",
        reference=reference,
    )
