"""java-tron's wire details for the Tron stand-in: addresses, TRC-20 calldata, ids, signatures.

Invariants: state is kept in hex form ("41" + 20 bytes) and turned into base58 only when a
request says `visible: true`, as java-tron's JSON printer does; a transaction id is the
SHA-256 of its raw_data's protobuf bytes (`Transaction.raw`, exposed as `raw_data_hex`),
exactly as java-tron computes it, so a txID a real client computes offline matches ours;
and a signature is valid when the secp256k1 key it recovers over that id is the owner's.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bip_utils import Base58Decoder, Base58Encoder
from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

from backend.sandbox.tron_proto import raw_bytes

USDT_BASE58 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_DECIMALS = 6
TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
SELECTORS = {
    "a9059cbb": "transfer(address,uint256)",
    "23b872dd": "transferFrom(address,address,uint256)",
    "70a08231": "balanceOf(address)",
    "313ce567": "decimals()",
    "95d89b41": "symbol()",
    "06fdde03": "name()",
    "18160ddd": "totalSupply()",
}
SELECTOR_OF = {signature: selector for selector, signature in SELECTORS.items()}
# Address-valued fields java-tron prints as base58 when `visible` is true.
ADDRESS_FIELDS = frozenset(
    {"owner_address", "to_address", "contract_address", "witness_address", "origin_address"}
)


class AddressError(ValueError):
    pass


def to_hex(address: str) -> str:
    """'41' + 40 hex from a base58 `T…` or hex address."""
    if len(address) == 42 and address.startswith("41"):
        try:
            bytes.fromhex(address)
        except ValueError:
            raise AddressError("Invalid address") from None
        return address.lower()
    try:
        raw = bytes(Base58Decoder.CheckDecode(address))
    except Exception:  # bip-utils raises its own types for bad characters and checksums
        raise AddressError("Invalid address") from None
    if len(raw) != 21 or raw[0] != 0x41:
        raise AddressError("Invalid address")
    return raw.hex()


def to_base58(hex_address: str) -> str:
    return str(Base58Encoder.CheckEncode(bytes.fromhex(hex_address)))


def from_word(word: str) -> str:
    """The hex address in a 32-byte ABI word (some wallets leave the 41 byte in it)."""
    return "41" + word[-40:]


def word(value: int | str) -> str:
    """A 32-byte ABI word: an integer, or an address (hex, its 20 bytes)."""
    if isinstance(value, int):
        return f"{value:064x}"
    return to_hex(value)[2:].rjust(64, "0")


def transfer_log(contract_hex: str, sender: str, recipient: str, amount: int) -> dict[str, Any]:
    return {
        "address": contract_hex[2:],
        "topics": [TRANSFER_TOPIC, word(sender), word(recipient)],
        "data": word(amount),
    }


def canonical(raw_data: dict[str, Any]) -> bytes:
    """raw_data's protobuf bytes; ValueError for a contract the stand-in does not run."""
    return raw_bytes(raw_data)


def txid_of(raw_data: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(raw_data)).hexdigest()


def digest(document: Any) -> str:
    """A stable hash of any JSON document, for the stand-in's own roots and code hashes."""
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def address_of_key(key: PrivateKey) -> str:
    return "41" + keccak(key.public_key.format(compressed=False)[1:])[-20:].hex()


def sign(key: PrivateKey, txid: str) -> str:
    return bytes(key.sign_recoverable(bytes.fromhex(txid), hasher=None)).hex()


def signer_of(txid: str, signature: str) -> str | None:
    """The hex address whose key made `signature` over `txid`, or None if it is not one."""
    try:
        raw = bytearray(bytes.fromhex(signature))
        if len(raw) != 65:
            return None
        if raw[64] >= 27:
            raw[64] -= 27
        public = PublicKey.from_signature_and_message(bytes(raw), bytes.fromhex(txid), hasher=None)
    except Exception:  # coincurve raises plain Exception for an unrecoverable signature
        return None
    return "41" + keccak(public.format(compressed=False)[1:])[-20:].hex()


def visible(document: Any, as_base58: bool) -> Any:
    """`document` with address fields in base58 when `as_base58`, as java-tron prints them."""
    if not as_base58:
        return document
    if isinstance(document, list):
        return [visible(item, True) for item in document]
    if not isinstance(document, dict):
        return document
    shown: dict[str, Any] = {}
    for key, value in document.items():
        if key in ADDRESS_FIELDS and isinstance(value, str) and len(value) == 42:
            shown[key] = to_base58(value)
        elif key == "log" and isinstance(value, list):
            # The servlets also rewrite each log's 20-byte EVM address to a T… address.
            shown[key] = [
                {**entry, "address": to_base58("41" + entry["address"])} for entry in value
            ]
        else:
            shown[key] = visible(value, True)
    return shown


def hidden(document: Any) -> Any:
    """`document` with every address field in hex: how java-tron stores (and hashes) it."""
    if isinstance(document, list):
        return [hidden(item) for item in document]
    if not isinstance(document, dict):
        return document
    return {
        key: to_hex(value)
        if key in ADDRESS_FIELDS and isinstance(value, str) and value
        else hidden(value)
        for key, value in document.items()
    }


def hex_text(text: str) -> str:
    """java-tron sends error messages as hex of their UTF-8 text."""
    return text.encode().hex()


USDT_ABI: list[dict[str, Any]] = [
    {
        "constant": True,
        "inputs": [],
        "name": "name",
        "outputs": [{"name": "", "type": "string"}],
        "stateMutability": "View",
        "type": "Function",
    },
    {
        "constant": True,
        "inputs": [],
        "name": "symbol",
        "outputs": [{"name": "", "type": "string"}],
        "stateMutability": "View",
        "type": "Function",
    },
    {
        "constant": True,
        "inputs": [],
        "name": "decimals",
        "outputs": [{"name": "", "type": "uint8"}],
        "stateMutability": "View",
        "type": "Function",
    },
    {
        "constant": True,
        "inputs": [],
        "name": "totalSupply",
        "outputs": [{"name": "", "type": "uint256"}],
        "stateMutability": "View",
        "type": "Function",
    },
    {
        "constant": True,
        "inputs": [{"name": "who", "type": "address"}],
        "name": "balanceOf",
        "outputs": [{"name": "", "type": "uint256"}],
        "stateMutability": "View",
        "type": "Function",
    },
    {
        "inputs": [{"name": "_to", "type": "address"}, {"name": "_value", "type": "uint256"}],
        "name": "transfer",
        "outputs": [{"name": "", "type": "bool"}],
        "stateMutability": "Nonpayable",
        "type": "Function",
    },
    {
        "inputs": [
            {"name": "_from", "type": "address"},
            {"name": "_to", "type": "address"},
            {"name": "_value", "type": "uint256"},
        ],
        "name": "transferFrom",
        "outputs": [{"name": "", "type": "bool"}],
        "stateMutability": "Nonpayable",
        "type": "Function",
    },
    {
        "anonymous": False,
        "inputs": [
            {"indexed": True, "name": "from", "type": "address"},
            {"indexed": True, "name": "to", "type": "address"},
            {"name": "value", "type": "uint256"},
        ],
        "name": "Transfer",
        "type": "Event",
    },
]
