"""Where a withdrawal may go: an address checked for its network, in canonical form.

Invariants: Bitcoin addresses carry the configured network's bech32 HRP (or base58 version)
and a valid checksum; Ethereum addresses are 20 bytes of hex whose EIP-55 checksum holds
when written in mixed case (all-lower or all-upper carry no checksum and are accepted),
returned checksummed; Tron addresses are base58check with the 0x41 prefix. Addresses that
would burn the coins (Ethereum's zero address, the token contract itself) are refused.
"""

from __future__ import annotations

from backend.connectors.bitcoin.address import validate_address as bitcoin_address
from backend.connectors.chain import InvalidAddress
from backend.connectors.ethereum.address import validate_address as ethereum_address
from backend.connectors.tron.address import validate_address as tron_address
from backend.settings import Settings
from contract.money import Network

ZERO_ADDRESS = "0x" + "0" * 40


def _ethereum(address: str, settings: Settings) -> str:
    canonical = ethereum_address(address)
    burns = {ZERO_ADDRESS.lower()}
    if settings.ethereum_usdt_contract:
        burns.add(settings.ethereum_usdt_contract.lower())
    if canonical.lower() in burns:
        raise InvalidAddress(
            "Coins sent to this address are lost: use a wallet address.", param="address"
        )
    return canonical


def _tron(address: str, settings: Settings) -> str:
    canonical = tron_address(address)
    if canonical == settings.tron_usdt_contract:
        raise InvalidAddress(
            "Coins sent to this address are lost: use a wallet address.", param="address"
        )
    return canonical


def canonical(network: Network, address: str, settings: Settings) -> str:
    """`address` as we store and send to it, or InvalidAddress (400) saying what is wrong."""
    if network is Network.bitcoin:
        return bitcoin_address(address, settings.bitcoin_network)
    if network is Network.ethereum:
        return _ethereum(address, settings)
    return _tron(address, settings)
