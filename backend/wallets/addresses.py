"""Where a withdrawal may go: an address checked for its network, in canonical form.

Invariants: Bitcoin addresses carry the configured network's bech32 HRP (or base58 version)
and a valid checksum; Ethereum addresses are 20 bytes of hex whose EIP-55 checksum holds
when written in mixed case (all-lower or all-upper carry no checksum and are accepted),
returned checksummed; Tron addresses are base58check with the 0x41 prefix. Addresses that
would burn the coins (Ethereum's zero address, the token contract itself) are refused.
"""

from __future__ import annotations

import re

from eth_utils.address import is_checksum_address, to_checksum_address

from backend.connectors.bitcoin.address import validate_address as bitcoin_address
from backend.connectors.chain import InvalidAddress
from backend.connectors.tron.address import validate_address as tron_address
from backend.settings import Settings
from contract.money import Network

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
ZERO_ADDRESS = "0x" + "0" * 40


def _ethereum(address: str, settings: Settings) -> str:
    candidate = address.strip()
    if not _HEX_ADDRESS.match(candidate):
        raise InvalidAddress(
            "This is not a valid Ethereum address: it must be 0x and 40 hex digits.",
            param="address",
        )
    body = candidate[2:]
    mixed = body != body.lower() and body != body.upper()
    if mixed and not is_checksum_address(candidate):
        # EIP-55: mixed case is a checksum, and a wrong one means a mistyped address.
        raise InvalidAddress(
            "This Ethereum address has a wrong checksum (EIP-55): check it for typos.",
            param="address",
        )
    canonical = to_checksum_address(candidate)
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
