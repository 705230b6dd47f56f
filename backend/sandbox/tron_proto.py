"""java-tron's bytes of a transaction for the Tron stand-in: protobuf `Transaction.raw`.

A txID is the SHA-256 of these bytes and `raw_data_hex` is their hex.

Invariants: fields are written in field-number order and proto3 leaves zero and empty values
out, as java-tron serialises them (checked against a mainnet USDT transfer's txID in the
tests); only the contracts the stand-in executes (TransferContract, TriggerSmartContract)
are encoded, anything else is a ValueError rather than a wrong id. Written apart from the
connector's own encoder on purpose: the stand-in checks the signer, it does not share it.
"""

from __future__ import annotations

from typing import Any

from bip_utils import Base58Decoder

_VARINT, _LENGTH = 0, 2
# protocol.Transaction.Contract.ContractType, and each parameter's (field, name, kind).
CONTRACT_TYPES = {"TransferContract": 1, "TriggerSmartContract": 31}
PARAMETER_FIELDS: dict[str, list[tuple[int, str, str]]] = {
    "TransferContract": [(1, "owner_address", "address"), (2, "to_address", "address"),
                         (3, "amount", "int")],
    "TriggerSmartContract": [(1, "owner_address", "address"), (2, "contract_address", "address"),
                             (3, "call_value", "int"), (4, "data", "hex"),
                             (5, "call_token_value", "int"), (6, "token_id", "int")],
}  # fmt: skip  # the protobuf field numbers laid out as the .proto has them
# protocol.Transaction.raw: (field, name, kind); contract (11) is written on its own.
RAW_FIELDS = [
    (1, "ref_block_bytes", "hex"),
    (3, "ref_block_num", "int"),
    (4, "ref_block_hash", "hex"),
    (8, "expiration", "int"),
    (10, "data", "hex"),
]
RAW_TAIL = [(14, "timestamp", "int"), (18, "fee_limit", "int")]


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 two's complement, as protobuf writes negatives
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | 0x80 if n else low)
        if not n:
            return bytes(out)


def _field(number: int, kind: str, value: Any) -> bytes:
    if kind == "int":
        number_value = int(value or 0)
        return _varint(number << 3 | _VARINT) + _varint(number_value) if number_value else b""
    payload = value if isinstance(value, bytes) else _bytes(kind, value)
    return _varint(number << 3 | _LENGTH) + _varint(len(payload)) + payload if payload else b""


def _bytes(kind: str, value: Any) -> bytes:
    if not value:
        return b""
    if kind == "address":  # "41…" hex, or base58 when the request was `visible`
        text = str(value)
        return (
            bytes.fromhex(text) if text.startswith("41") else bytes(Base58Decoder.CheckDecode(text))
        )
    if kind == "hex":
        return bytes.fromhex(str(value))
    return str(value).encode()


def _fields(spec: list[tuple[int, str, str]], values: dict[str, Any]) -> bytes:
    return b"".join(_field(number, kind, values.get(name)) for number, name, kind in spec)


def _contract(contract: dict[str, Any]) -> bytes:
    kind = contract.get("type")
    if kind not in CONTRACT_TYPES:
        raise ValueError(f"contract type {kind!r} is not supported here")
    parameter = contract["parameter"]
    value = _fields(PARAMETER_FIELDS[kind], parameter["value"])
    any_message = _field(1, "text", parameter.get("type_url", "")) + _field(2, "bytes", value)
    return (
        _field(1, "int", CONTRACT_TYPES[kind])
        + _field(2, "bytes", any_message)
        + _field(5, "int", contract.get("Permission_id"))
    )


def raw_bytes(raw_data: dict[str, Any]) -> bytes:
    """The protobuf bytes of a transaction's raw_data (addresses in hex or base58)."""
    contracts = b"".join(_field(11, "bytes", _contract(c)) for c in raw_data.get("contract", []))
    return _fields(RAW_FIELDS, raw_data) + contracts + _fields(RAW_TAIL, raw_data)
