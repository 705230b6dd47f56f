"""`/v1/withdrawals`: preview the fees, request one (Idempotency-Key), read one back."""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.wallets.routes import WALLET_HOLDERS
from backend.withdrawals import service
from contract.wallets import (
    Withdrawal,
    WithdrawalPreview,
    WithdrawalPreviewQuery,
    WithdrawalRequest,
)


async def preview_withdrawal(call: Call) -> WithdrawalPreview:
    query: WithdrawalPreviewQuery = call.query
    return await service.preview(call.session, call.runtime, call.user().user_id, query)


async def create_withdrawal(call: Call, body: WithdrawalRequest) -> Withdrawal:
    row = await service.request(
        call.session, call.runtime, call.user().user_id, body, call.client_ip
    )
    return service.to_wire(row)


async def get_withdrawal(call: Call) -> Withdrawal:
    row = await service.get(call.session, call.user().user_id, call.path["withdrawal_id"])
    return service.to_wire(row)


ENDPOINTS = [
    Endpoint("GET", "/v1/withdrawals/preview", preview_withdrawal, WALLET_HOLDERS,
             "What a withdrawal would cost now (fees, total), or the most you can send "
             "with `amount` left out; refused as the withdrawal would be (balance, "
             "limits), and nothing is held",
             query=WithdrawalPreviewQuery, response=WithdrawalPreview,
             errors=(400, 403, 409, 503),
             tags=("wallets",)),
    Endpoint("POST", "/v1/withdrawals", create_withdrawal, WALLET_HOLDERS,
             "Send crypto to an address: funds are held, then signed, broadcast and "
             "confirmed (a Qpeapay user's address settles at once, without a network fee)",
             body=WithdrawalRequest, response=Withdrawal, status=201,
             errors=(400, 403, 409, 503), tags=("wallets",)),
    Endpoint("GET", "/v1/withdrawals/{withdrawal_id}", get_withdrawal, WALLET_HOLDERS,
             "One of your withdrawals", response=Withdrawal, errors=(404,),
             tags=("wallets",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
