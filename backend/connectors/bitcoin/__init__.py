"""Bitcoin: BTC payments found by block scanning over Bitcoin Core JSON-RPC (python-bitcoinrpc)."""

from backend.connectors.bitcoin.address import validate_address
from backend.connectors.bitcoin.client import BitcoinConnector, Utxo
from backend.connectors.bitcoin.rpc import BitcoinRpc

__all__ = ["BitcoinConnector", "BitcoinRpc", "Utxo", "validate_address"]
