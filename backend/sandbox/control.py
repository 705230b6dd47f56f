"""The stand-ins' `/_sim` control endpoints: JSON in and out, HTTP 400 with a reason on refusal.

Invariants: amounts arrive as strings or integers (a JSON fraction is read as an exact
Decimal, never a float) and leave as exact base units; a refused request says why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from contract import wire

S = TypeVar("S")
Control = Callable[[S, dict[str, Any]], dict[str, Any]]


class SimError(Exception):
    """A control request the stand-in cannot honour."""


def endpoint(
    handler: Control[S], sim: S, coded: tuple[type[Exception], ...] = ()
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint running `handler(sim, body)`; `coded` errors carry the outside
    system's own `code` and `message` (an RPC error, a refused broadcast)."""

    async def control(request: Request) -> Response:
        raw = await request.body()
        try:
            body = wire.loads(raw, parse_float=Decimal) if raw else {}
            if not isinstance(body, dict):
                raise SimError("send a JSON object")
            return JSONResponse(handler(sim, body))
        except (SimError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        except coded as exc:
            error = {"error": getattr(exc, "message", str(exc)), "code": getattr(exc, "code", None)}
            return JSONResponse(error, 400)

    return control


def base_units(value: Any, decimals: int) -> int:
    """A positive amount ("0.0015", 2, or an exact JSON fraction) in the asset's base units."""
    try:
        amount = Decimal(str(value)) if isinstance(value, int | str | Decimal) else None
    except InvalidOperation:
        amount = None
    if isinstance(value, bool) or amount is None or not amount.is_finite() or amount <= 0:
        raise SimError("amount must be a positive number, as a string or an integer")
    units = amount.scaleb(decimals)
    if units != units.to_integral_value():
        raise SimError(f"amount has more than {decimals} decimals")
    return int(units)
