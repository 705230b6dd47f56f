"""The Core stand-in speaks Core's wire format: envelopes, status codes, auth, content type,
8-decimal amounts, real hashes, and Core's answers around reorgs, RBF and bad input."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from backend.sandbox.bitcoin import create_app
from backend.sandbox.bitcoin_wire import Tx, TxIn, TxOut, dsha256, hash_hex, parse_tx
from tests.backend.connectors.bitcoin.conftest import new_address

AUTH = ("qpeapay", "qpeapay")


@pytest.fixture
async def core() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://core") as client:
        yield client


async def call(
    client: httpx.AsyncClient, method: str, *params: Any, **envelope: Any
) -> httpx.Response:
    body = {"version": "1.1", "method": method, "params": list(params), "id": 7} | envelope
    return await client.post("/", json=body, auth=AUTH)


async def result(client: httpx.AsyncClient, method: str, *params: Any) -> Any:
    response = await call(client, method, *params)
    assert response.status_code == 200, response.text
    return response.json()["result"]


async def sim(client: httpx.AsyncClient, path: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/_sim/{path}", json=body)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


async def test_legacy_envelope_has_result_and_error_and_exact_content_type(
    core: httpx.AsyncClient,
) -> None:
    response = await call(core, "getblockcount")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"result": 0, "error": None, "id": 7}


@pytest.mark.parametrize(
    ("method", "params", "status", "code"),
    [
        ("getblockhash", [5], 500, -8),
        ("getblock", ["00" * 32], 500, -5),
        ("getblock", ["zz"], 500, -8),
        ("getblockhash", ["five"], 500, -3),
        ("nosuchmethod", [], 404, -32601),
        ("gettransaction", ["00" * 32], 500, -18),
        ("getrawtransaction", ["00" * 32], 500, -5),
    ],
)
async def test_legacy_errors_use_cores_codes_and_http_statuses(
    core: httpx.AsyncClient, method: str, params: list[Any], status: int, code: int
) -> None:
    response = await call(core, method, *params)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["result"] is None and body["id"] == 7 and body["error"]["code"] == code


async def test_json_rpc_2_replies_200_with_only_result_or_error(core: httpx.AsyncClient) -> None:
    ok = await core.post(
        "/", json={"jsonrpc": "2.0", "method": "getblockcount", "id": 1}, auth=AUTH
    )
    bad = await core.post(
        "/", json={"jsonrpc": "2.0", "method": "getblockhash", "params": [9], "id": 2}, auth=AUTH
    )
    note = await core.post("/", json={"jsonrpc": "2.0", "method": "getblockcount"}, auth=AUTH)
    batch = await core.post(
        "/",
        json=[
            {"jsonrpc": "2.0", "method": "getblockcount", "id": 1},
            {"jsonrpc": "2.0", "method": "getblockhash", "params": [9], "id": 2},
        ],
        auth=AUTH,
    )

    assert (ok.status_code, ok.json()) == (200, {"jsonrpc": "2.0", "result": 0, "id": 1})
    assert (
        bad.status_code == 200 and "result" not in bad.json() and bad.json()["error"]["code"] == -8
    )
    assert note.status_code == 204 and note.content == b""
    assert [("result" in r, "error" in r) for r in batch.json()] == [(True, False), (False, True)]


async def test_auth_method_and_parse_failures_look_like_core(core: httpx.AsyncClient) -> None:
    missing = await core.post("/", json={"method": "getblockcount", "id": 1})
    wrong = await core.post("/", json={"method": "getblockcount", "id": 1}, auth=("qpeapay", "x"))
    get = await core.get("/", auth=AUTH)
    garbage = await core.post("/", content=b"{not json", auth=AUTH)

    for refused in (missing, wrong):
        assert refused.status_code == 401 and refused.content == b""
        assert refused.headers["www-authenticate"] == 'Basic realm="jsonrpc"'
    assert get.status_code == 405
    assert garbage.status_code == 500 and garbage.json()["error"]["code"] == -32700


async def test_wallet_endpoint_without_a_loaded_wallet_is_minus_18(core: httpx.AsyncClient) -> None:
    body = {"method": "listsinceblock", "params": [], "id": 1}
    response = await core.post("/wallet/gateway", json=body, auth=AUTH)

    assert response.json()["error"] == {
        "code": -18,
        "message": "Requested wallet does not exist or is not loaded",
    }
    node_call = await core.post(
        "/wallet/gateway", json={"method": "getblockcount", "id": 1}, auth=AUTH
    )
    assert node_call.json()["result"] == 0


async def test_amounts_are_bare_numbers_with_eight_decimals(core: httpx.AsyncClient) -> None:
    txid = (await sim(core, "pay", address=new_address(), amount="0.0015"))["txid"]
    block_hash = (await sim(core, "mine", blocks=1))["hashes"][0]

    raw = (await call(core, "getblock", block_hash, 2)).text

    assert '"value": 0.00150000' in raw
    assert re.search(r'"fee": 0\.\d{8}[,}]', raw)
    assert not re.search(r'"value": "', raw)
    tx = await result(core, "getrawtransaction", txid, True)
    assert tx["confirmations"] == 1 and tx["blockhash"] == block_hash


async def test_hashes_are_the_real_double_sha256_of_the_bytes(core: httpx.AsyncClient) -> None:
    genesis = await result(core, "getblockhash", 0)
    assert genesis == "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    txid = (await sim(core, "pay", address=new_address(), amount="1"))["txid"]
    block_hash = (await sim(core, "mine", blocks=1))["hashes"][0]

    raw_tx = bytes.fromhex(await result(core, "getrawtransaction", txid))
    raw_block = bytes.fromhex(await result(core, "getblock", block_hash, 0))
    header = bytes.fromhex(await result(core, "getblockheader", block_hash, False))

    assert parse_tx(raw_tx).txid == txid
    assert hash_hex(dsha256(raw_block[:80])) == block_hash and raw_block[:80] == header
    assert int(block_hash, 16) <= 0x7FFFFF << 232  # regtest proof of work


async def test_orphaned_blocks_answer_minus_one_and_their_txs_zero(core: httpx.AsyncClient) -> None:
    txid = (await sim(core, "pay", address=new_address(), amount="0.1"))["txid"]
    old_hash = (await sim(core, "mine", blocks=1))["hashes"][0]

    await sim(core, "reorg", depth=1, drop=True)

    assert (await result(core, "getblock", old_hash, 1))["confirmations"] == -1
    stale = await result(core, "getrawtransaction", txid, True)
    assert stale["blockhash"] == old_hash and stale["confirmations"] == 0
    assert txid not in await result(core, "getrawmempool")
    assert (await result(core, "getblockcount")) == 2


async def test_replacement_rules_evict_or_reject(core: httpx.AsyncClient) -> None:
    original = (await sim(core, "pay", address=new_address(), amount="0.2"))["txid"]
    entry = await result(core, "getmempoolentry", original)
    assert entry["bip125-replaceable"] is True

    replacement = (await sim(core, "replace", txid=original, address=new_address(), amount="0.2"))[
        "txid"
    ]

    assert await result(core, "getrawmempool") == [replacement]
    missing = await call(core, "getmempoolentry", original)
    assert missing.json()["error"] == {"code": -5, "message": "Transaction not in mempool"}
    # The same inputs again, paying one satoshi less fee than the transaction it would replace.
    current = parse_tx(bytes.fromhex(await result(core, "getrawtransaction", replacement)))
    first, *rest = current.outputs
    cheaper = Tx(current.inputs, (TxOut(first.value + 1, first.script), *rest))
    refused = await call(core, "sendrawtransaction", cheaper.raw.hex())
    assert refused.status_code == 500
    assert refused.json()["error"]["code"] == -26
    assert refused.json()["error"]["message"].startswith("insufficient fee")
    assert await result(core, "getrawmempool") == [replacement]


async def test_sendrawtransaction_answers_like_core(core: httpx.AsyncClient) -> None:
    txid = (await sim(core, "pay", address=new_address(), amount="0.2"))["txid"]
    raw = await result(core, "getrawtransaction", txid)

    again = await call(core, "sendrawtransaction", raw)
    assert again.json()["result"] == txid  # already in the mempool: its txid, not an error
    await sim(core, "mine", blocks=1)
    confirmed = await call(core, "sendrawtransaction", raw)
    assert confirmed.status_code == 500
    assert confirmed.json()["error"]["code"] == -27
    garbage = await call(core, "sendrawtransaction", "00")
    assert garbage.json()["error"]["code"] == -22


async def test_gettxout_sees_the_mempool_unless_told_not_to(core: httpx.AsyncClient) -> None:
    payee = new_address()
    txid = (await sim(core, "pay", address=payee, amount="0.3"))["txid"]
    pending = await result(core, "gettxout", txid, 0)
    assert pending["confirmations"] == 0 and pending["scriptPubKey"]["address"] == payee
    assert await result(core, "gettxout", txid, 0, False) is None
    await sim(core, "mine", blocks=2)
    mined = await call(core, "gettxout", txid, 0)
    assert '"value":0.30000000' in mined.text.replace(" ", "")
    assert mined.json()["result"]["confirmations"] == 2

    # A mempool spend hides the coin (with the mempool) but not from the chain's view.
    spend = Tx(
        (TxIn(txid, 0, witness=(b"\x30" * 72, b"\x02" * 33)),),
        (TxOut(29_990_000, bytes.fromhex("0014") + bytes(20)),),
    )
    assert await result(core, "sendrawtransaction", spend.raw.hex()) == spend.txid
    assert await result(core, "gettxout", txid, 0) is None
    assert (await result(core, "gettxout", txid, 0, False))["confirmations"] == 2
    assert await result(core, "gettxout", txid, 9) is None


async def test_estimatesmartfee_without_data_has_errors_and_no_feerate(
    core: httpx.AsyncClient,
) -> None:
    await sim(core, "fee", sat_per_vb=None)
    assert await result(core, "estimatesmartfee", 6) == {
        "errors": ["Insufficient data or no feerate found"],
        "blocks": 0,
    }
    out_of_range = await call(core, "estimatesmartfee", 0)
    assert out_of_range.json()["error"]["code"] == -8


async def test_outages_are_503_text_or_warming_up(core: httpx.AsyncClient) -> None:
    await sim(core, "down", mode="503")
    busy = await call(core, "getblockcount")
    assert busy.status_code == 503 and busy.headers["content-type"].startswith("text/plain")
    await sim(core, "down", mode="warmup")
    assert (await call(core, "getblockcount")).json()["error"]["code"] == -28
    await sim(core, "up")
    assert (await call(core, "getblockcount")).status_code == 200


async def test_control_api_refuses_bad_requests(core: httpx.AsyncClient) -> None:
    bad_address = await core.post("/_sim/pay", json={"address": "bc1qnope", "amount": "1"})
    bad_amount = await core.post(
        "/_sim/pay", json={"address": new_address(), "amount": "0.000000001"}
    )
    too_deep = await core.post("/_sim/reorg", json={"depth": 5})

    assert [r.status_code for r in (bad_address, bad_amount, too_deep)] == [400, 400, 400]
