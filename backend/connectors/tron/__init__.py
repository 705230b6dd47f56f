"""Tron: USDT (TRC-20) payments found in block receipts over TronGrid / java-tron (tronpy)."""

from backend.connectors.tron.address import validate_address
from backend.connectors.tron.client import FINAL_CONFIRMATIONS, TronConnector, TronReceipt
from backend.connectors.tron.transaction import TronTxParams

__all__ = [
    "FINAL_CONFIRMATIONS",
    "TronConnector",
    "TronReceipt",
    "TronTxParams",
    "validate_address",
]
