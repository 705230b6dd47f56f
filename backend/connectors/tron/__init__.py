"""Tron: USDT (TRC-20) payments found in block receipts over TronGrid / java-tron (tronpy)."""

from backend.connectors.tron.address import validate_address
from backend.connectors.tron.client import FINAL_CONFIRMATIONS, TronConnector
from backend.connectors.tron.transaction import TronTxParams

__all__ = ["FINAL_CONFIRMATIONS", "TronConnector", "TronTxParams", "validate_address"]
