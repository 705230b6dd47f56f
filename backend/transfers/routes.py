"""`/v1/transfers`: check a transfer, send to another Qpeapay user by email or phone, read
one back."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.transfers import service
from backend.transfers.models import Transfer as TransferRow
from backend.wallets.routes import WALLET_HOLDERS
from contract.wallets import Transfer, TransferPreview, TransferPreviewQuery, TransferRequest


async def _wire(call: Call, row: TransferRow) -> Transfer:
    viewer = call.user().user_id
    other = row.recipient_id if row.sender_id == viewer else row.sender_id
    names = await service.emails(call.session, {other})
    return service.to_wire(row, viewer, names.get(other, ""))


async def preview_transfer(call: Call) -> TransferPreview:
    query: TransferPreviewQuery = call.query
    return await service.preview(call.session, call.runtime, call.user().user_id, query)


async def create_transfer(call: Call, body: TransferRequest) -> Transfer:
    row = await service.send(call.session, call.runtime, call.user().user_id, body, call.client_ip)
    return await _wire(call, row)


async def get_transfer(call: Call) -> Transfer:
    row = await service.get(call.session, call.user().user_id, call.path["transfer_id"])
    return await _wire(call, row)


ENDPOINTS = [
    Endpoint("GET", "/v1/transfers/preview", preview_transfer, WALLET_HOLDERS,
             "Check a transfer before confirming it: the recipient is a Qpeapay user other "
             "than you, and the amount fits your balance and limits; nothing moves "
             "(rate limited per user: RATE_LIMIT_RECIPIENT_LOOKUP)",
             query=TransferPreviewQuery, response=TransferPreview,
             errors=(400, 403, 404, 409, 429), tags=("wallets",)),
    Endpoint("POST", "/v1/transfers", create_transfer, WALLET_HOLDERS,
             "Pay another Qpeapay user by email or phone, instantly and without a fee",
             body=TransferRequest, response=Transfer, status=201,
             errors=(400, 403, 404, 409), tags=("wallets",)),
    Endpoint("GET", "/v1/transfers/{transfer_id}", get_transfer, WALLET_HOLDERS,
             "One of your transfers, sent or received", response=Transfer, errors=(404,),
             tags=("wallets",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
