"""On-chain payments to our addresses as integrators and customers see them (events, history).

A payment is one transfer (a BTC output, an ERC-20/TRC-20 log) to one of our addresses:
`seen → confirmed`, `seen → replaced | reorged`; `failed` for one that landed in a block but
moved nothing (a Tron REVERT), which is never credited.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from contract.base import ResponseModel
from contract.money import Money, Network


class PaymentStatus(StrEnum):
    seen = "seen"  # in the mempool or in a block with too few confirmations
    confirmed = "confirmed"  # deep enough (and final where the network says so): credited
    replaced = "replaced"  # left the mempool unmined: RBF or a double spend
    reorged = "reorged"  # its block left the chain; any credit was reversed
    failed = "failed"  # in a block but reverted: nothing moved, never credited


class Deposit(ResponseModel):
    """A payment into a customer's wallet deposit address (also `deposit.*` event data)."""

    id: str
    network: Network
    amount: Money
    address: str
    txid: str
    # The output number (BTC vout) or log index (token transfer) within the transaction.
    index: int
    status: PaymentStatus
    confirmations: int
    required_confirmations: int
    block_height: int | None
    created_at: datetime
    confirmed_at: datetime | None
