"""Tron transactions as java-tron hashes them: raw_data builders, protobuf bytes and the txID,
and `TronTxParams`, what the signer needs from the chain to build one.

A txID is sha256 of the protobuf `Transaction.raw` serialisation of raw_data, and an owner's
signature covers exactly those 32 bytes, so whoever signs must compute them from the
raw_data it built, never take them from a node (tronpy's online `build()` does take the
node's `getsignweight` answer: a lying node could get any transaction signed).

Invariants: fields are written in field-number order with proto3's rule that zero and
empty values are left out, which is how java-tron serialises them; only the two contracts
we send are encoded (TransferContract, TriggerSmartContract) and anything else is a
ValueError rather than a wrong hash; addresses are accepted as "41…" hex or base58.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from backend.connectors.tron.address import to_hex
from contract.money import Asset, Money

TYPE_URL = "type.googleapis.com/protocol."
# protocol.Transaction.Contract.ContractType
CONTRACT_TYPES = {"TransferContract": 1, "TriggerSmartContract": 31}
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # transfer(address,uint256)
_VARINT, _BYTES = 0, 2


@dataclass(frozen=True)
class TronTxParams:
    """What the signer needs from the chain to build a Tron transaction: the TaPoS reference
    (a solidified block, as tronpy takes: it stays in the chain whatever reorgs), the window
    in which the network accepts the transaction, and the energy budget of a contract call."""

    ref_block_bytes: str  # the block number's two low bytes, hex
    ref_block_hash: str  # bytes 8..16 of the block id, hex
    timestamp: int  # ms
    expiration: int  # ms: java-tron refuses the transaction from then on
    fee_limit: int  # sun: the most TRX a contract call may burn on energy

    def max_fee(self) -> Money:
        return Money.from_minor_units(self.fee_limit, Asset.TRX)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 negatives are ten-byte two's complement in protobuf
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _int(field: int, value: Any) -> bytes:
    number = int(value or 0)
    return _varint(field << 3 | _VARINT) + _varint(number) if number else b""


def _bytes(field: int, value: bytes) -> bytes:
    return _varint(field << 3 | _BYTES) + _varint(len(value)) + value if value else b""


def _hex(value: Any) -> bytes:
    return bytes.fromhex(str(value or ""))


def _address(value: Any) -> bytes:
    text = str(value or "")
    return bytes.fromhex(text if text.startswith("41") and len(text) == 42 else to_hex(text))


def _contract_value(kind: str, value: dict[str, Any]) -> bytes:
    if kind == "TransferContract":
        return (
            _bytes(1, _address(value["owner_address"]))
            + _bytes(2, _address(value["to_address"]))
            + _int(3, value.get("amount"))
        )
    return (
        _bytes(1, _address(value["owner_address"]))
        + _bytes(2, _address(value["contract_address"]))
        + _int(3, value.get("call_value"))
        + _bytes(4, _hex(value.get("data")))
        + _int(5, value.get("call_token_value"))
        + _int(6, value.get("token_id"))
    )


def _contract(contract: dict[str, Any]) -> bytes:
    kind = str(contract.get("type"))
    if kind not in CONTRACT_TYPES:
        raise ValueError(f"cannot encode a {kind}")
    parameter = contract["parameter"]
    any_message = _bytes(1, str(parameter["type_url"]).encode()) + _bytes(
        2, _contract_value(kind, parameter["value"])
    )
    return (
        _int(1, CONTRACT_TYPES[kind])
        + _bytes(2, any_message)
        + _int(5, contract.get("Permission_id"))
    )


def raw_data_bytes(raw_data: dict[str, Any]) -> bytes:
    """protobuf `Transaction.raw` of a raw_data JSON document: what `raw_data_hex` shows."""
    try:
        return b"".join(
            [
                _bytes(1, _hex(raw_data.get("ref_block_bytes"))),
                _int(3, raw_data.get("ref_block_num")),
                _bytes(4, _hex(raw_data.get("ref_block_hash"))),
                _int(8, raw_data.get("expiration")),
                _bytes(10, _hex(raw_data.get("data"))),
                *(_bytes(11, _contract(c)) for c in raw_data["contract"]),
                _int(14, raw_data.get("timestamp")),
                _int(18, raw_data.get("fee_limit")),
            ]
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a Tron raw_data: {exc!r}") from None


def transaction_id(raw_data: dict[str, Any]) -> str:
    return hashlib.sha256(raw_data_bytes(raw_data)).hexdigest()


def _raw_data(
    kind: str, value: dict[str, Any], params: TronTxParams, *, fee_limit: bool
) -> dict[str, Any]:
    # The same keys and order tronpy's builder produces, so the JSON reads as any client's.
    raw: dict[str, Any] = {
        "contract": [{"parameter": {"value": value, "type_url": TYPE_URL + kind}, "type": kind}],
        "timestamp": params.timestamp,
        "expiration": params.expiration,
        "ref_block_bytes": params.ref_block_bytes,
        "ref_block_hash": params.ref_block_hash,
    }
    if fee_limit:  # only contract calls burn energy; a TransferContract has no fee_limit
        raw["fee_limit"] = params.fee_limit
    return raw


def trx_transfer(owner: str, to: str, amount_sun: int, params: TronTxParams) -> dict[str, Any]:
    """raw_data of a plain TRX payment (TransferContract), addresses in hex."""
    value = {"owner_address": to_hex(owner), "to_address": to_hex(to), "amount": amount_sun}
    return _raw_data("TransferContract", value, params, fee_limit=False)


def trc20_transfer_data(to: str, units: int) -> bytes:
    """Calldata of `transfer(to, units)`: the recipient as a 20-byte EVM word."""
    recipient = bytes.fromhex(to_hex(to))[1:]
    return TRANSFER_SELECTOR + recipient.rjust(32, b"\0") + units.to_bytes(32, "big")


def trc20_transfer(
    owner: str, token: str, to: str, units: int, params: TronTxParams
) -> dict[str, Any]:
    """raw_data of `token.transfer(to, units)` (TriggerSmartContract), addresses in hex."""
    value = {
        "data": trc20_transfer_data(to, units).hex(),
        "owner_address": to_hex(owner),
        "contract_address": to_hex(token),
    }
    return _raw_data("TriggerSmartContract", value, params, fee_limit=True)
