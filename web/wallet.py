"""The customer's wallet pages: balances, receive (address, QR, copy), send (form → review
with the fee and total → submit), and activity with live status.

Invariants: every figure shown comes from the API; money leaves only from the review page,
which shows the fee and total and carries one Idempotency-Key, so a double tap or a resent
form acts once; a refused send comes back to its form (or its review, when the fee moved)
with the API's words next to the field they concern.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from markupsafe import Markup
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from contract.money import Asset, Network
from contract.pagination import Page
from contract.rates import Rates
from contract.users import Role, User
from contract.wallets import (
    NETWORK_ASSETS,
    NETWORK_NAMES,
    DepositAddress,
    Transaction,
    TransactionStatus,
    Transfer,
    TransferRequest,
    Wallets,
    Withdrawal,
    WithdrawalPreview,
    WithdrawalRequest,
)
from web.account import when
from web.auth import field_errors, form_fields, login_required, page_status
from web.client import ApiClient, ApiError, api
from web.session import get_session
from web.templating import is_htmx, render

HOLDERS = (Role.customer, Role.merchant)
ACTIVITY = "/wallet/activity"
# The networks in the order people here use them: Tron's USDT is the cheapest to move.
RECEIVE_ORDER = (Network.tron, Network.ethereum, Network.bitcoin)
# What can be sent to an address: "ASSET:network" → its label.
ROUTES_OUT = {
    f"{asset}:{network}": f"{asset} on {NETWORK_NAMES[network]}"
    for network in RECEIVE_ORDER
    for asset in NETWORK_ASSETS[network]
}
KINDS = {"deposit": "Received", "withdrawal": "Sent", "transfer_in": "Received",
         "transfer_out": "Sent"}  # fmt: skip  # a lookup table, several entries a line


def amount(value: Decimal) -> str:
    """1234.5 → "1,234.50"; 0.00120000 → "0.0012": cents always, more only when they count."""
    trimmed = value.normalize()
    exponent = trimmed.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return f"{value:,.2f}"
    return f"{trimmed:,f}"


def short(address: str) -> str:
    return address if len(address) <= 16 else f"{address[:8]}…{address[-6:]}"


def _page(request: Request, template: str, user: User, status_code: int = 200, **context: Any
          ) -> Response:  # fmt: skip  # the signature kept on two lines, not one per parameter
    base = {"user": user, "when": when, "amount": amount, "short": short,
            "network_names": NETWORK_NAMES, "kinds": KINDS}  # fmt: skip  # kept compact
    return render(request, template, {**base, **context}, status_code=status_code)


async def _kes_rates(client: ApiClient) -> dict[str, Decimal]:
    """KES per unit of each asset, for the "≈ KES" lines; none when rates are unavailable."""
    try:
        rates = await client.get("/v1/rates", Rates)
    except ApiError:
        return {}
    return {rate.base: rate.value for rate in rates.data if rate.quote == Asset.KES}


# ------------------------------------------------------------------------------- balances


@login_required(*HOLDERS)
async def balances(request: Request, user: User) -> Response:
    client = api(request)
    wallets = await client.get("/v1/wallets", Wallets)
    recent = await client.get("/v1/transactions", Page[Transaction], params={"limit": "5"})
    return _page(
        request,
        "wallet/balances.html",
        user,
        wallets=[wallets.root[asset] for asset in (Asset.USDT, Asset.BTC)],
        recent=recent.data,
        kes=await _kes_rates(client),
    )


# -------------------------------------------------------------------------------- receive


@login_required(*HOLDERS)
async def receive(request: Request, user: User) -> Response:
    try:
        network = Network(request.query_params.get("network", Network.tron))
    except ValueError:
        network = Network.tron
    address = await api(request).get(f"/v1/wallets/{network}/address", DepositAddress)
    return _page(
        request,
        "wallet/receive.html",
        user,
        network=network,
        networks=RECEIVE_ORDER,
        address=address,
        # Our own API drew it (segno): an SVG of paths, no script, safe to inline.
        qr=Markup(address.qr_svg),  # noqa: S704 - our API's SVG, safe to inline
    )


# ----------------------------------------------------------------------------------- send


def _send_form(request: Request, user: User, values: dict[str, str], errors: dict[str, str],
               status_code: int = 200) -> Response:  # fmt: skip  # kept compact
    return _page(request, "wallet/send.html", user, status_code, values=values, errors=errors,
                 routes_out=ROUTES_OUT)  # fmt: skip  # kept compact


@login_required(*HOLDERS)
async def send_page(request: Request, user: User) -> Response:
    mode = "address" if request.query_params.get("to") == "address" else "person"
    return _send_form(request, user, {"mode": mode, "route": "USDT:tron", "asset": "USDT"}, {})


def _values(form: dict[str, str]) -> dict[str, str]:
    names = ("mode", "to", "asset", "route", "address", "amount", "note", "key", "max_fee")
    return {name: form.get(name, "").strip() for name in names}


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def _validation_errors(exc: ValidationError, fields: dict[str, str]) -> dict[str, str]:
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "amount"
    message = first["msg"].removeprefix("Value error, ")
    return {fields.get(name, "amount"): message[:1].upper() + message[1:] + "."}


def _transfer(values: dict[str, str]) -> TransferRequest:
    return TransferRequest(
        to=values["to"], asset=Asset(values["asset"] or "USDT"),
        amount=values["amount"].replace(",", ""), note=values["note"] or None,
    )  # fmt: skip  # the arguments kept on two lines, not one per line


def _withdrawal(values: dict[str, str], max_fee: str | None = None) -> WithdrawalRequest:
    asset, _, network = (values["route"] or "USDT:tron").partition(":")
    return WithdrawalRequest(
        asset=Asset(asset), network=Network(network), address=values["address"],
        amount=values["amount"].replace(",", ""), max_fee=max_fee,
    )  # fmt: skip  # the arguments kept on two lines, not one per line


async def _review(request: Request, user: User, values: dict[str, str], status_code: int = 200,
                  **context: Any) -> Response:  # fmt: skip  # kept compact
    """The confirmation step: what arrives, the fee, the total, one key for the submit."""
    values = {**values, "key": values.get("key") or str(uuid.uuid4())}
    if values["mode"] == "person":
        transfer = _transfer(values)
        return _page(request, "wallet/review.html", user, status_code, values=values,
                     transfer=transfer, preview=None, **context)  # fmt: skip  # kept compact
    request_body = _withdrawal(values)
    preview = await api(request).get(
        "/v1/withdrawals/preview",
        WithdrawalPreview,
        params={"asset": request_body.asset, "network": request_body.network,
                "address": request_body.address, "amount": str(request_body.amount)},
    )  # fmt: skip  # the arguments kept on two lines, not one per line
    values["max_fee"] = format(preview.fee.amount, "f")
    return _page(request, "wallet/review.html", user, status_code, values=values,
                 transfer=None, preview=preview, **context)  # fmt: skip  # kept compact


@login_required(*HOLDERS)
async def review(request: Request, user: User) -> Response:
    values = _values(await form_fields(request))
    values["mode"] = "address" if values["mode"] == "address" else "person"
    fields = {"to": "to", "address": "address", "amount": "amount", "asset": "route",
              "network": "route"}  # fmt: skip  # a lookup table, several entries a line
    if _decimal(values["amount"]) is None:
        return _send_form(request, user, values, {"amount": "Enter an amount above zero."}, 422)
    try:
        return await _review(request, user, values)
    except ValidationError as exc:
        return _send_form(request, user, values, _validation_errors(exc, fields), 422)
    except ApiError as error:
        return _send_form(request, user, values, _errors(error), page_status(error))


def _errors(error: ApiError) -> dict[str, str]:
    """The API's refusal next to the field it names (an unknown recipient's 404 too)."""
    param = (error.error.param or "").split(".")[0]
    if param in ("to", "address", "amount") and error.status < 500:
        return {param: error.error.message.removeprefix(f"{param}: ")}
    if param in ("asset", "network"):
        return {"route": error.error.message}
    return {"form": field_errors(error).get("form") or error.error.message}


@login_required(*HOLDERS)
async def confirm(request: Request, user: User) -> Response:
    values = _values(await form_fields(request))
    client = api(request)
    session = get_session(request)
    try:
        if values["mode"] == "person":
            sent = await client.post(
                "/v1/transfers", Transfer, _transfer(values), idempotency_key=values["key"]
            )
            session.flash(
                f"You sent {amount(sent.amount.amount)} {sent.asset} to {sent.counterparty}.",
                "success",
            )
        else:
            out = await client.post(
                "/v1/withdrawals",
                Withdrawal,
                _withdrawal(values, values["max_fee"] or None),
                idempotency_key=values["key"],
            )
            what = f"{amount(out.amount.amount)} {out.asset}"
            session.flash(
                f"{what} arrived in a Qpeapay wallet, free of network fees."
                if out.internal
                else f"Your withdrawal of {what} is on its way. Follow it here.",
                "success",
            )
    except ValidationError as exc:
        return _send_form(request, user, values, _validation_errors(exc, {}), 422)
    except ApiError as error:
        if error.code == "fee_changed":
            # Show the new fee on a fresh review (a new key: the old one was refused).
            return await _review(request, user, {**values, "key": ""}, 409,
                                 notice=error.error.message)  # fmt: skip  # kept compact
        return _send_form(request, user, values, _errors(error), page_status(error))
    return RedirectResponse(ACTIVITY, status_code=303)


# ------------------------------------------------------------------------------- activity


async def _activity(request: Request) -> tuple[Page[Transaction], bool]:
    params = {"limit": "20"}
    if cursor := request.query_params.get("cursor"):
        params["cursor"] = cursor
    page = await api(request).get("/v1/transactions", Page[Transaction], params=params)
    waiting = any(line.status is TransactionStatus.pending for line in page.data)
    return page, waiting


@login_required(*HOLDERS)
async def activity(request: Request, user: User) -> Response:
    page, waiting = await _activity(request)
    first = "cursor" not in request.query_params
    template = "wallet/_activity.html" if is_htmx(request) else "wallet/activity.html"
    # Only the first page follows live status: older pages hold settled lines.
    return _page(request, template, user, page=page, live=waiting and first)


ROUTES: list[BaseRoute] = [
    Route("/wallet", balances, methods=["GET"], name="wallet"),
    Route("/wallet/receive", receive, methods=["GET"], name="receive"),
    Route("/wallet/send", send_page, methods=["GET"], name="send"),
    Route("/wallet/send/review", review, methods=["POST"]),
    Route("/wallet/send/confirm", confirm, methods=["POST"]),
    Route(ACTIVITY, activity, methods=["GET"], name="activity"),
]
