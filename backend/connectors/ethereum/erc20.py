"""The ERC-20 surface we use, shaped like mainnet USDT: `transfer` returns nothing.

Invariants: the ABI declares `transfer`/`transferFrom`/`approve` with no outputs, as
TetherToken does, so nothing ever waits for a bool that real USDT never returns; a
transfer's success is its receipt status plus the Transfer log, never a return value.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
TRANSFER_SELECTOR = keccak(text="transfer(address,uint256)")[:4]
BALANCE_OF_SELECTOR = keccak(text="balanceOf(address)")[:4]

ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "transfer",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "to", "type": "address"}, {"name": "value", "type": "uint256"}],
        "outputs": [],
    },
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "owner", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "event",
        "name": "Transfer",
        "anonymous": False,
        "inputs": [
            {"name": "from", "type": "address", "indexed": True},
            {"name": "to", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
]


def address_topic(address: str) -> str:
    """An address as an indexed event topic: left-padded to 32 bytes, lowercase hex."""
    return "0x" + "0" * 24 + to_checksum_address(address)[2:].lower()


def topic_address(topic: bytes) -> str:
    """The checksummed address in the low 20 bytes of an indexed topic."""
    return to_checksum_address(topic[-20:])


def transfer_calldata(to: str, units: int) -> bytes:
    return TRANSFER_SELECTOR + encode(["address", "uint256"], [to_checksum_address(to), units])


def balance_of_calldata(owner: str) -> bytes:
    return BALANCE_OF_SELECTOR + encode(["address"], [to_checksum_address(owner)])
