"""Tron transaction bytes: our protobuf encoding of raw_data gives java-tron's own txIDs."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from backend.connectors.tron.address import from_hex
from backend.connectors.tron.transaction import (
    TronTxParams,
    raw_data_bytes,
    transaction_id,
    trc20_transfer,
    trx_transfer,
)

# Unsigned transactions as java-tron nodes returned them (raw_data, raw_data_hex, txID),
# kept as public wallet-SDK test fixtures: a TRX payment and a TRC-20 transfer call.
TRX_PAYMENT: dict[str, Any] = {
    "contract": [
        {
            "parameter": {
                "value": {
                    "amount": 10,
                    "owner_address": "41e5e00fc1cdb3921b8340c20b2b65b543c84aa1dd",
                    "to_address": "412c2ba4a9ff6c53207dc5b686bfecf75ea7b80577",
                },
                "type_url": "type.googleapis.com/protocol.TransferContract",
            },
            "type": "TransferContract",
        }
    ],
    "ref_block_bytes": "5123",
    "ref_block_hash": "52a26dea963a47bc",
    "expiration": 1569463320000,
    "timestamp": 1569463261623,
}
TRX_PAYMENT_HEX = (
    "0a025123220852a26dea963a47bc40c0fbb6dad62d5a65080112610a2d747970652e676f6f676c6561706973"
    "2e636f6d2f70726f746f636f6c2e5472616e73666572436f6e747261637412300a1541e5e00fc1cdb3921b83"
    "40c20b2b65b543c84aa1dd1215412c2ba4a9ff6c53207dc5b686bfecf75ea7b80577180a70b7b3b3dad62d"
)
TRX_PAYMENT_ID = "ee0bbf72b238361577a9dc41d79f7a74f6ba9efe472c21bfd3e7dc850c9e9020"

TOKEN_CALL: dict[str, Any] = {
    "contract": [
        {
            "parameter": {
                "value": {
                    "data": "a9059cbb000000000000000000000000e40b19afca3dde4ce8fcbc57ab41f8c3"
                    "26ab0cf2000000000000000000000000000000000000000000000000000000004190ab00",
                    "owner_address": "41c25420255c2c5a2dd54ef69f92ef261e6bd4216a",
                    "contract_address": "4142a1e39aefa49290f2b3f9ed688d7cecf86cd6e0",
                },
                "type_url": "type.googleapis.com/protocol.TriggerSmartContract",
            },
            "type": "TriggerSmartContract",
        }
    ],
    "ref_block_bytes": "cba3",
    "ref_block_hash": "e14cc425da3cfd94",
    "expiration": 1693357620000,
    "fee_limit": 100000000,
    "timestamp": 1693357561339,
}
TOKEN_CALL_HEX = (
    "0a02cba32208e14cc425da3cfd9440a0f6ea9fa4315aae01081f12a9010a31747970652e676f6f676c65617069"
    "732e636f6d2f70726f746f636f6c2e54726967676572536d617274436f6e747261637412740a1541c2542025"
    "5c2c5a2dd54ef69f92ef261e6bd4216a12154142a1e39aefa49290f2b3f9ed688d7cecf86cd6e02244a9059c"
    "bb000000000000000000000000e40b19afca3dde4ce8fcbc57ab41f8c326ab0cf20000000000000000000000"
    "00000000000000000000000000000000004190ab0070fbabe79fa431900180c2d72f"
)
TOKEN_CALL_ID = "f8179caab4c781676cb33940948533e209dc7fe2135bbd6e00f60597862b86be"


@pytest.mark.parametrize(
    ("raw_data", "raw_hex", "txid"),
    [(TRX_PAYMENT, TRX_PAYMENT_HEX, TRX_PAYMENT_ID), (TOKEN_CALL, TOKEN_CALL_HEX, TOKEN_CALL_ID)],
    ids=["TransferContract", "TriggerSmartContract"],
)
def test_raw_data_encodes_as_java_tron_does(
    raw_data: dict[str, Any], raw_hex: str, txid: str
) -> None:
    assert raw_data_bytes(raw_data).hex() == raw_hex
    assert hashlib.sha256(bytes.fromhex(raw_hex)).hexdigest() == txid
    assert transaction_id(raw_data) == txid


def test_base58_and_hex_addresses_hash_alike() -> None:
    value = TRX_PAYMENT["contract"][0]["parameter"]["value"]
    shown = {**value, "owner_address": from_hex(value["owner_address"])}
    contract = {
        **TRX_PAYMENT["contract"][0],
        "parameter": {**TRX_PAYMENT["contract"][0]["parameter"], "value": shown},
    }
    assert transaction_id({**TRX_PAYMENT, "contract": [contract]}) == TRX_PAYMENT_ID


def test_builders_reproduce_the_known_transactions() -> None:
    payment = TronTxParams("5123", "52a26dea963a47bc", 1569463261623, 1569463320000, 0)
    built = trx_transfer(
        from_hex("41e5e00fc1cdb3921b8340c20b2b65b543c84aa1dd"),
        from_hex("412c2ba4a9ff6c53207dc5b686bfecf75ea7b80577"),
        10,
        payment,
    )
    assert "fee_limit" not in built and transaction_id(built) == TRX_PAYMENT_ID

    call = TronTxParams("cba3", "e14cc425da3cfd94", 1693357561339, 1693357620000, 100_000_000)
    built = trc20_transfer(
        from_hex("41c25420255c2c5a2dd54ef69f92ef261e6bd4216a"),
        from_hex("4142a1e39aefa49290f2b3f9ed688d7cecf86cd6e0"),
        from_hex("41e40b19afca3dde4ce8fcbc57ab41f8c326ab0cf2"),
        0x4190AB00,
        call,
    )
    assert transaction_id(built) == TOKEN_CALL_ID


def test_contracts_we_do_not_send_are_refused_not_misencoded() -> None:
    vote = {**TRX_PAYMENT["contract"][0], "type": "VoteWitnessContract"}
    with pytest.raises(ValueError, match="VoteWitnessContract"):
        transaction_id({**TRX_PAYMENT, "contract": [vote]})
    with pytest.raises(ValueError):
        transaction_id({"ref_block_bytes": "5123"})
