"""Tron address checks and forms: base58check `T…` for people, "41…" hex on the wire.

Invariants: an accepted address is 34 base58 characters whose double-SHA256 checksum holds
over 21 bytes starting 0x41 (mainnet, Nile and Shasta share the format); conversions are
exact inverses of each other.
"""

from __future__ import annotations

from functools import lru_cache

from bip_utils import Base58Decoder, Base58Encoder

from backend.connectors.chain import InvalidAddress

ADDRESS_PREFIX = 0x41


def _refuse(reason: str) -> InvalidAddress:
    return InvalidAddress(f"This is not a valid Tron address: {reason}.", param="address")


def validate_address(address: str) -> str:
    """`address` as base58check (surrounding spaces dropped), or InvalidAddress saying why."""
    return _checked(address)[0]


def to_hex(address: str) -> str:
    """'41' + 40 hex digits for a base58 address."""
    return _checked(address)[1].hex()


def _checked(address: str) -> tuple[str, bytes]:
    """(address, its 21-byte payload), decoded once: scanning converts every watched
    address, 100,000 of them on a busy deployment."""
    candidate = address.strip()
    if len(candidate) != 34 or not candidate.startswith("T"):
        raise _refuse("it must be 34 characters starting with T")
    try:
        payload = bytes(Base58Decoder.CheckDecode(candidate))
    except Exception:  # bip-utils raises its own types for bad characters and checksums
        raise _refuse("bad characters or checksum") from None
    if len(payload) != 21 or payload[0] != ADDRESS_PREFIX:
        raise _refuse("wrong address type")
    return candidate, payload


def tvm_account(address: str) -> str | None:
    """The 20-byte account of a base58 address in lower-case hex (as TVM logs and calldata
    words end), or None when it is not a Tron address."""
    try:
        return to_hex(address)[2:]
    except InvalidAddress:
        return None


@lru_cache(maxsize=65_536)
def from_hex(hex_address: str) -> str:
    """Base58 for '41…' hex, or for a bare 20-byte EVM address as TVM logs carry it."""
    raw = bytes.fromhex(hex_address[-40:])
    return str(Base58Encoder.CheckEncode(bytes([ADDRESS_PREFIX]) + raw))
