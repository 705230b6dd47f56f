"""Ethereum addresses as we store and send to them: 20 bytes of hex, EIP-55 checksummed.

Invariant: mixed case is a checksum and must hold (a wrong one means a mistyped address);
all-lower or all-upper carry none and are accepted; what comes back is checksummed.
"""

from __future__ import annotations

import re

from eth_utils.address import is_checksum_address, to_checksum_address

from backend.connectors.chain import InvalidAddress

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def validate_address(address: str) -> str:
    """`address` checksummed, or InvalidAddress (400) saying what is wrong."""
    candidate = address.strip()
    if not _HEX_ADDRESS.match(candidate):
        raise InvalidAddress(
            "This is not a valid Ethereum address: it must be 0x and 40 hex digits.",
            param="address",
        )
    body = candidate[2:]
    mixed = body != body.lower() and body != body.upper()
    if mixed and not is_checksum_address(candidate):
        raise InvalidAddress(
            "This Ethereum address has a wrong checksum (EIP-55): check it for typos.",
            param="address",
        )
    return to_checksum_address(candidate)
