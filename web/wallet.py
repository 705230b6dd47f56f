"""The customer's wallet pages: balances, receive (address, QR, copy), send (form → review
with the fee and total → submit), and activity with live status.

Invariants: every figure shown comes from the API; amounts are read by web.amounts only;
the review is shown only once the API's preview has checked what the send would (recipient,
balance, limits, fees), and money leaves only from it, with one Idempotency-Key, so a double
tap or a resent form acts once; Back from the review and every refusal return to the form
with every field as typed and each error next to its field, focus on the first.
"""

from __future__ import annotations

import contextlib
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from markupsafe import Markup
from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
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
    TransferPreview,
    TransferRequest,
    Wallets,
    Withdrawal,
    WithdrawalPreview,
    WithdrawalRequest,
)
from web.account import when
from web.amounts import AmountError, parse_amount
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
    base = {
        "user": user,
        "when": when,
        "amount": amount,
        "short": short,
        "network_names": NETWORK_NAMES,
        "kinds": KINDS,
        "kes_text": kes_text,
    }
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

FIELDS = ("mode", "to", "asset", "route", "address", "amount", "note", "key", "max_fee")
# Each mode's fields in the order the form shows them: focus goes to the first with an error.
ORDER = {"person": ("to", "asset", "amount", "note"), "address": ("route", "address", "amount")}
SEND_ASSETS = {"USDT": "USDT (Tether USD)", "BTC": "BTC (Bitcoin)"}
NOTE_MAX = 140


def kes_text(value: Decimal) -> str:
    """KES 1,234.50: what people here read on receipts."""
    return f"KES {value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def _values(form: dict[str, str]) -> dict[str, str]:
    values = {name: form.get(name, "").strip() for name in FIELDS}
    values["mode"] = "address" if values["mode"] == "address" else "person"
    if values["mode"] == "person":
        values["asset"] = values["asset"] if values["asset"] in SEND_ASSETS else "USDT"
    elif values["route"] not in ROUTES_OUT:
        values["route"] = "USDT:tron"
    return values


def _asset(values: dict[str, str]) -> Asset:
    if values["mode"] == "person":
        return Asset(values["asset"])
    return Asset(values["route"].partition(":")[0])


def _check(values: dict[str, str]) -> tuple[Decimal | None, dict[str, str]]:
    """Every problem the form itself can see, all at once, each next to its field."""
    errors: dict[str, str] = {}
    if values["mode"] == "person":
        if not values["to"]:
            errors["to"] = "Enter the email or phone number of the person you are paying."
        if len(values["note"]) > NOTE_MAX:
            errors["note"] = f"Keep the note to {NOTE_MAX} characters or fewer."
    elif not values["address"]:
        errors["address"] = "Paste the address you are sending to."
    try:
        value: Decimal | None = parse_amount(values["amount"], _asset(values))
    except AmountError as exc:
        errors["amount"], value = exc.message, None
    return value, errors


def _focus(values: dict[str, str], errors: dict[str, str]) -> str | None:
    return next((name for name in ORDER[values["mode"]] if name in errors), None)


async def _estimate(request: Request, values: dict[str, str]) -> dict[str, Any]:
    """Available balance, KES value and fee for what the form holds so far; each part is
    left out rather than guessed when the API cannot say."""
    client = api(request)
    asset = _asset(values)
    found: dict[str, Any] = {"asset": asset, "available": None, "kes": None, "fee": None}
    with contextlib.suppress(ApiError, KeyError):
        found["available"] = (await client.get("/v1/wallets", Wallets)).root[asset].available
    try:
        value: Decimal | None = parse_amount(values["amount"], asset)
    except AmountError:
        value = None
    rate = (await _kes_rates(client)).get(asset)
    if value is not None and rate is not None:
        found["kes"] = kes_text(value * rate)
    if values["mode"] == "person":
        found["fee"] = Decimal(0)
    elif value is not None:
        network = values["route"].partition(":")[2]
        params = {"asset": asset, "network": network, "amount": str(value)}
        if values["address"]:
            params["address"] = values["address"]
        # When the API refuses, the review step says why, next to the field concerned.
        with contextlib.suppress(ApiError):
            found["fee"] = (
                await client.get("/v1/withdrawals/preview", WithdrawalPreview, params=params)
            ).fee.amount
    return found


async def _send_form(request: Request, user: User, values: dict[str, str],
                     errors: dict[str, str], status_code: int = 200,
                     focus: str | None = None) -> Response:  # fmt: skip  # kept compact
    return _page(request, "wallet/send.html", user, status_code, values=values, errors=errors,
                 routes_out=ROUTES_OUT, send_assets=SEND_ASSETS,
                 focus=focus or _focus(values, errors),
                 estimate=await _estimate(request, values))  # fmt: skip  # kept compact


@login_required(*HOLDERS)
async def send_page(request: Request, user: User) -> Response:
    mode = "address" if request.query_params.get("to") == "address" else "person"
    return await _send_form(request, user, _values({"mode": mode}), {})


@login_required(*HOLDERS)
async def edit(request: Request, user: User) -> Response:
    """Back from the review: the form again, every field as it was."""
    return await _send_form(request, user, _values(await form_fields(request)), {})


@login_required(*HOLDERS)
async def estimate(request: Request, user: User) -> Response:
    """The form's balance, KES value and fee line, refreshed by htmx as the amount changes."""
    try:
        values = _values(await form_fields(request))
    except ClientDisconnect:
        # The person moved on (submitted the form, left the page) mid-request: nobody to answer.
        return Response(status_code=204)
    return _page(request, "wallet/_estimate.html", user, estimate=await _estimate(request, values),
                 values=values)  # fmt: skip  # kept compact


@login_required(*HOLDERS)
async def most(request: Request, user: User) -> Response:
    """The Max button: the whole available balance, less the fees for an on-chain send."""
    values = _values(await form_fields(request))
    asset, client = _asset(values), api(request)
    try:
        if values["mode"] == "person":
            available = (await client.get("/v1/wallets", Wallets)).root[asset].available
            if available <= 0:
                nothing = {"amount": f"You have no {asset} to send."}
                return await _send_form(request, user, values, nothing, 409)
            values["amount"] = amount(available)
        else:
            params = {"asset": asset, "network": values["route"].partition(":")[2]}
            if values["address"]:
                params["address"] = values["address"]
            preview = await client.get("/v1/withdrawals/preview", WithdrawalPreview, params=params)
            values["amount"] = amount(preview.amount.amount)
    except ApiError as error:
        return await _send_form(request, user, values, _errors(error), page_status(error))
    return await _send_form(request, user, values, {}, focus="amount")


def _transfer(values: dict[str, str], value: Decimal) -> TransferRequest:
    return TransferRequest(
        to=values["to"], asset=_asset(values), amount=value, note=values["note"] or None
    )


def _withdrawal(values: dict[str, str], value: Decimal, max_fee: str | None = None
                ) -> WithdrawalRequest:  # fmt: skip  # kept compact
    asset, _, network = values["route"].partition(":")
    return WithdrawalRequest(
        asset=Asset(asset), network=Network(network), address=values["address"],
        amount=value, max_fee=max_fee,
    )  # fmt: skip  # kept compact


def _validation_errors(exc: ValidationError, fields: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in exc.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "amount"
        message = problem["msg"].removeprefix("Value error, ")
        errors.setdefault(fields.get(name, "amount"), message[:1].upper() + message[1:] + ".")
    return errors


async def _review(request: Request, user: User, values: dict[str, str], value: Decimal,
                  status_code: int = 200, **context: Any) -> Response:  # fmt: skip  # kept compact
    """The confirmation step, reached only once the API has checked everything the send
    would check (recipient, balance, limits): what arrives, the fee, the total, one key."""
    values = {**values, "key": values.get("key") or str(uuid.uuid4())}
    client = api(request)
    asset = _asset(values)
    preview: TransferPreview | WithdrawalPreview
    if values["mode"] == "person":
        preview = await client.get(
            "/v1/transfers/preview", TransferPreview,
            params={"to": values["to"], "asset": asset, "amount": str(value)},
        )  # fmt: skip  # kept compact
    else:
        request_body = _withdrawal(values, value)
        preview = await client.get(
            "/v1/withdrawals/preview",
            WithdrawalPreview,
            params={"asset": request_body.asset, "network": request_body.network,
                    "address": request_body.address, "amount": str(request_body.amount)},
        )  # fmt: skip  # kept compact
        values["max_fee"] = format(preview.fee.amount, "f")
    rate = (await _kes_rates(client)).get(asset)
    kes = kes_text(preview.total.amount * rate) if rate is not None else None
    return _page(request, "wallet/review.html", user, status_code, values=values,
                 preview=preview, kes=kes, **context)  # fmt: skip  # kept compact


FORM_FIELDS = {"to": "to", "address": "address", "amount": "amount", "asset": "route",
               "network": "route", "note": "note"}  # fmt: skip  # kept compact


@login_required(*HOLDERS)
async def review(request: Request, user: User) -> Response:
    values = _values(await form_fields(request))
    value, errors = _check(values)
    if value is None or errors:
        return await _send_form(request, user, values, errors, 422)
    try:
        return await _review(request, user, values, value)
    except ValidationError as exc:
        return await _send_form(request, user, values, _validation_errors(exc, FORM_FIELDS), 422)
    except ApiError as error:
        return await _send_form(request, user, values, _errors(error), page_status(error))


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
    value, errors = _check(values)
    if value is None or errors:
        return await _send_form(request, user, values, errors, 422)
    client = api(request)
    session = get_session(request)
    try:
        if values["mode"] == "person":
            sent = await client.post(
                "/v1/transfers", Transfer, _transfer(values, value), idempotency_key=values["key"]
            )
            session.flash(
                f"You sent {amount(sent.amount.amount)} {sent.asset} to {sent.counterparty}.",
                "success",
            )
        else:
            out = await client.post(
                "/v1/withdrawals",
                Withdrawal,
                _withdrawal(values, value, values["max_fee"] or None),
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
        return await _send_form(request, user, values, _validation_errors(exc, FORM_FIELDS), 422)
    except ApiError as error:
        if error.code == "fee_changed":
            # Show the new fee on a fresh review (a new key: the old one was refused).
            try:
                return await _review(request, user, {**values, "key": ""}, value, 409,
                                     notice=error.error.message)  # fmt: skip  # kept compact
            except ApiError as again:
                error = again
        return await _send_form(request, user, values, _errors(error), page_status(error))
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
    Route("/wallet/send/edit", edit, methods=["POST"]),
    Route("/wallet/send/max", most, methods=["POST"]),
    Route("/wallet/send/estimate", estimate, methods=["POST"]),
    Route("/wallet/send/confirm", confirm, methods=["POST"]),
    Route(ACTIVITY, activity, methods=["GET"], name="activity"),
]
