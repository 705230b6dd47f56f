"""`POST /v1/quotes` and `GET /v1/quotes/{quote_id}`: thin, the service prices and stores."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.quotes import service
from backend.users.access import signed_in
from contract.apikeys import Scope
from contract.quotes import Quote, QuoteRequest
from contract.users import Role

# Customers buy and sell; merchants may sell what their invoices brought in, and price
# what they are about to invoice — from the dashboard or from their own systems with a key.
_QUOTE = signed_in(Role.customer, Role.merchant, key_scope=Scope.invoices_write)
_READ_QUOTE = signed_in(Role.customer, Role.merchant, key_scope=Scope.invoices_read)


async def create_quote(call: Call, body: QuoteRequest) -> Quote:
    row = await service.create(call.session, call.runtime, call.user().user_id, body)
    return service.to_wire(row, expired=False)


async def get_quote(call: Call) -> Quote:
    row = await service.get(call.session, call.path["quote_id"], call.user().user_id)
    return service.to_wire(row, expired=await service.is_expired(call.session, row))


ENDPOINTS = [
    Endpoint("POST", "/v1/quotes", create_quote, _QUOTE,
             "Price a buy or sell and hold the rate for a short time",
             body=QuoteRequest, response=Quote, status=201, errors=(403, 409, 503),
             tags=("prices",)),
    Endpoint("GET", "/v1/quotes/{quote_id}", get_quote, _READ_QUOTE, "One of your quotes",
             response=Quote, errors=(404,), tags=("prices",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
