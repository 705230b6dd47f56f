"""The java-tron stand-in speaks java-tron's wire format: 200 + JSON, `{}` for unknown objects,
visible/hex address forms, receipts of failed transfers, solidity views, broadcast refusals."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tronpy.keys import PrivateKey

from backend.clock import SettableClock
from backend.sandbox.tron import create_app
from backend.sandbox.tron_chain import TronNode
from backend.sandbox.tron_wire import TRANSFER_TOPIC, hidden, to_base58, to_hex, txid_of, word
from tests.backend.connectors.tron.conftest import USDT, new_address, new_key
from tests.served import Served

USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"


@pytest.fixture
def node() -> TronNode:
    return TronNode()


@pytest.fixture
async def api(node: TronNode) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(node=node))
    async with httpx.AsyncClient(transport=transport, base_url="http://tron") as client:
        yield client


async def post(api: httpx.AsyncClient, path: str, **body: Any) -> Any:
    response = await api.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def test_unknown_objects_are_empty_json(api: httpx.AsyncClient) -> None:
    missing = "ab" * 32
    assert await post(api, "/wallet/getblockbynum", num=5) == {}
    assert await post(api, "/wallet/gettransactionbyid", value=missing) == {}
    assert await post(api, "/wallet/gettransactioninfobyid", value=missing) == {}
    assert await post(api, "/wallet/getaccount", address=new_address(), visible=True) == {}
    assert await post(api, "/wallet/gettransactioninfobyblocknum", num=0) == {}
    assert (await api.post("/wallet/nosuchmethod", json={})).status_code == 404


async def test_visible_chooses_base58_or_hex(api: httpx.AsyncClient, node: TronNode) -> None:
    to = new_address()
    txid = node.pay_usdt(to_hex(to), 2_000_000)
    node.mine(1)

    shown = await post(api, "/wallet/getblockbynum", num=1, visible=True)
    raw = await post(api, "/wallet/getblockbynum", num=1)

    shown_value = shown["transactions"][0]["raw_data"]["contract"][0]["parameter"]["value"]
    raw_value = raw["transactions"][0]["raw_data"]["contract"][0]["parameter"]["value"]
    assert shown_value["contract_address"] == USDT and raw_value["contract_address"] == USDT_HEX
    assert shown["block_header"]["raw_data"]["witness_address"].startswith("T")
    assert raw["block_header"]["raw_data"]["witness_address"].startswith("41")
    info_shown = await post(api, "/wallet/gettransactioninfobyid", value=txid, visible=True)
    info_raw = await post(api, "/wallet/gettransactioninfobyid", value=txid)
    assert info_shown["log"][0]["address"] == USDT
    assert info_raw["log"][0]["address"] == USDT_HEX[2:]
    assert info_raw["log"][0]["topics"] == [TRANSFER_TOPIC, word(node.payer), word(to_hex(to))]
    assert int(info_raw["log"][0]["data"], 16) == 2_000_000
    # java-tron's txID: SHA-256 of raw_data_hex, the protobuf bytes of raw_data.
    sent = raw["transactions"][0]
    assert sent["txID"] == hashlib.sha256(bytes.fromhex(sent["raw_data_hex"])).hexdigest()
    assert sent["txID"] == txid_of(sent["raw_data"])


async def test_a_reverted_transfer_has_a_failed_receipt_and_no_log(
    api: httpx.AsyncClient, node: TronNode
) -> None:
    txid = node.pay_usdt(to_hex(new_address()), 1_000_000, broke=True)
    node.mine(1)

    block = await post(api, "/wallet/getnowblock", visible=True)
    info = await post(api, "/wallet/gettransactioninfobyid", value=txid, visible=True)

    assert block["transactions"][0]["ret"] == [{"contractRet": "REVERT"}]
    assert info["result"] == "FAILED" and info["receipt"]["result"] == "REVERT"
    assert bytes.fromhex(info["resMessage"]).decode() == "REVERT opcode executed"
    assert "log" not in info and info["fee"] > 0


async def test_solidity_views_trail_the_head(api: httpx.AsyncClient, node: TronNode) -> None:
    txid = node.pay_usdt(to_hex(new_address()), 1)
    node.mine(1)
    assert await post(api, "/walletsolidity/gettransactioninfobyid", value=txid) == {}
    assert await post(api, "/walletsolidity/gettransactioninfobyblocknum", num=1) == []

    node.mine(19)
    info = await post(api, "/wallet/getnodeinfo")
    solid = await post(api, "/walletsolidity/getnowblock")

    assert info["block"].startswith("Num:20,ID:0000000000000014")
    assert info["solidityBlock"] == f"Num:1,ID:{solid['blockID']}"
    assert (await post(api, "/walletsolidity/gettransactioninfobyid", value=txid))[
        "blockNumber"
    ] == 1
    assert (await post(api, "/wallet/getblockbylimitnext", startNum=1, endNum=4))["block"][2][
        "block_header"
    ]["raw_data"]["number"] == 3


async def test_genesis_prints_no_default_values(api: httpx.AsyncClient) -> None:
    genesis = await post(api, "/wallet/getblockbynum", num=0)
    assert "number" not in genesis["block_header"]["raw_data"]
    assert "transactions" not in genesis


async def test_chain_parameters_leave_out_zero_values(api: httpx.AsyncClient) -> None:
    parameters = (await post(api, "/wallet/getchainparameters"))["chainParameter"]
    assert {"key": "getAllowUpdateAccountName"} in parameters
    assert {"key": "getEnergyFee", "value": 100} in parameters


async def _signed(api: httpx.AsyncClient, key: PrivateKey, **change: Any) -> dict[str, Any]:
    """A USDT transfer built by the node, changed as asked, signed by `key` (as a wallet does)."""
    owner = to_hex(key.public_key.to_base58check_address())
    built = await post(
        api,
        "/wallet/triggersmartcontract",
        owner_address=owner,
        contract_address=USDT_HEX,
        function_selector="transfer(address,uint256)",
        parameter=word(to_hex(new_address())) + word(1),
        fee_limit=50_000_000,
    )
    raw = built["transaction"]["raw_data"] | change
    txid = txid_of(raw)
    return {
        "txID": txid,
        "raw_data": raw,
        "signature": [key.sign_msg_hash(bytes.fromhex(txid)).hex()],
    }


async def test_broadcast_checks_like_java_tron(api: httpx.AsyncClient, node: TronNode) -> None:
    key = new_key()
    node.pay_trx(to_hex(key.public_key.to_base58check_address()), 10_000_000)
    node.mine(1)

    good = await _signed(api, key)
    assert await post(api, "/wallet/broadcasttransaction", **good) == {
        "result": True,
        "txid": good["txID"],
    }
    duplicate = await post(api, "/wallet/broadcasttransaction", **good)
    assert duplicate["code"] == "DUP_TRANSACTION_ERROR"
    assert bytes.fromhex(duplicate["message"]).decode() == "Dup transaction."

    expired = await _signed(api, key, expiration=int(time.time() * 1000) - 1)
    stale_ref = await _signed(api, key, ref_block_hash="00" * 8)
    stranger = await _signed(api, new_key())  # signed by its owner, who has no account
    forged = good | {"signature": (await _signed(api, new_key()))["signature"]}
    forged["raw_data"] = good["raw_data"] | {"fee_limit": 40_000_000}
    codes = [
        (await post(api, "/wallet/broadcasttransaction", **tx))["code"]
        for tx in (expired, stale_ref, stranger, forged)
    ]
    assert codes == [
        "TRANSACTION_EXPIRATION_ERROR",
        "TAPOS_ERROR",
        "CONTRACT_VALIDATE_ERROR",
        "SIGERROR",
    ]


async def test_a_reorg_never_touches_solidified_blocks(api: httpx.AsyncClient) -> None:
    await api.post("/_sim/mine", json={"blocks": 25})
    too_deep = await api.post("/_sim/reorg", json={"depth": 20})  # head 25, solid head 6
    ok = await api.post("/_sim/reorg", json={"depth": 19})

    assert too_deep.status_code == 400 and "solidified" in too_deep.json()["error"]
    assert ok.status_code == 200 and ok.json()["height"] == 26


async def test_balance_views_and_the_contract_abi(api: httpx.AsyncClient, node: TronNode) -> None:
    holder = new_address()
    node.pay_usdt(to_hex(holder), 3_500_000)
    node.mine(1)

    balance = await post(
        api,
        "/wallet/triggerconstantcontract",
        owner_address=holder,
        contract_address=USDT,
        function_selector="balanceOf(address)",
        parameter=word(to_hex(holder)),
        visible=True,
    )
    contract = await post(api, "/wallet/getcontract", value=USDT, visible=True)

    assert balance["result"] == {"result": True}
    assert int(balance["constant_result"][0], 16) == 3_500_000
    assert {e["name"] for e in contract["abi"]["entrys"]} >= {"transfer", "balanceOf", "Transfer"}
    assert all("stateMutability" in e for e in contract["abi"]["entrys"] if e["type"] == "Function")
    assert to_base58(to_hex(holder)) == holder


async def test_the_gateway_can_be_down(api: httpx.AsyncClient) -> None:
    await api.post("/_sim/down")
    assert (await api.post("/wallet/getnowblock", json={})).status_code == 503
    await api.post("/_sim/up")
    assert (await api.post("/wallet/getnowblock", json={})).status_code == 200


async def test_the_dev_app_produces_a_block_every_interval_by_itself() -> None:
    clock = SettableClock()
    served = Served(create_app(block_interval_s=3, clock=clock), lifespan="on")
    try:
        async with httpx.AsyncClient(base_url=served.url) as client:

            async def height() -> int:
                state: int = (await client.get("/_sim/state")).json()["height"]
                return state

            async def parked() -> None:  # the producer waits for its next block time
                async with asyncio.timeout(10):
                    while clock.sleepers == 0:  # noqa: ASYNC110 - another thread's loop
                        await asyncio.sleep(0.01)

            await parked()
            start = await height()
            clock.advance(2.9)
            assert await height() == start  # not yet: nothing woke
            for produced in (1, 2):
                clock.advance(0.1 if produced == 1 else 3)
                async with asyncio.timeout(10):
                    while await height() < start + produced:
                        pass
                await parked()
                assert await height() == start + produced  # one block per interval
    finally:
        served.stop()


def test_txids_match_java_tron_on_a_mainnet_transfer() -> None:
    """USDT transfer 0130dfde… (block 69316562): its raw_data, as TronGrid printed it."""
    value = {
        "data": "a9059cbb000000000000000000000041ec20315a879c48f5e3a6a1c9826d5225f8b658b8"
        "00000000000000000000000000000000000000000000000000000000027bf24d",
        "owner_address": "TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre",
        "contract_address": USDT,
    }
    raw = {
        "contract": [
            {
                "parameter": {
                    "value": value,
                    "type_url": "type.googleapis.com/protocol.TriggerSmartContract",
                },
                "type": "TriggerSmartContract",
            }
        ],
        "ref_block_bytes": "afbf",
        "ref_block_hash": "4e85c21e37dfb0c5",
        "expiration": 1738602162000,
        "fee_limit": 50000000,
        "timestamp": 1738601502223,
    }

    assert txid_of(raw) == "0130dfde9281a48378109039ef512229d5359fbee2a8adbb17ad73aebc67ea99"
    assert txid_of(hidden(raw)) == txid_of(raw)  # hex or base58 addresses hash alike
