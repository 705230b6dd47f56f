"""The stand-ins answer a body nested a hundred thousand deep, or one that is not JSON, the
way the system they stand in for refuses bad input: never a crash, never a 500 of their own."""

from __future__ import annotations

import httpx
import pytest

from backend.sandbox import bitcoin, rates, tron

DEEP = 100_000
HOSTILE = [
    b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    b'{"a": ' + b"9" * 5000 + b"}",
    b"\xff\xfe",
    b"NaN",
]


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test")  # type: ignore[arg-type] # any ASGI app


@pytest.mark.parametrize(
    "raw", HOSTILE, ids=["deep-array", "deep-object", "long-int", "utf16", "nan"]
)
async def test_bitcoin_rpc_answers_a_parse_error(raw: bytes) -> None:
    async with client(bitcoin.create_app(user="u", password="p")) as rpc:
        response = await rpc.post("/", content=raw, auth=("u", "p"))
        # Bitcoin Core's own answer to a body it cannot parse: HTTP 500 with RPC -32700.
        assert response.status_code == 500
        assert response.json()["error"]["code"] == -32700
        sim = await rpc.post("/_sim/mine", content=raw)
        assert sim.status_code == 400


@pytest.mark.parametrize(
    "raw", HOSTILE, ids=["deep-array", "deep-object", "long-int", "utf16", "nan"]
)
async def test_tron_api_answers_a_json_exception(raw: bytes) -> None:
    async with client(tron.create_app()) as api:
        response = await api.post("/wallet/getnowblock", content=raw)
        assert response.status_code == 200  # TronGrid reports errors in a 200 body
        assert "JSONException" in response.json()["Error"]
        sim = await api.post("/_sim/mine", content=raw)
        assert sim.status_code == 400


@pytest.mark.parametrize(
    "raw", HOSTILE, ids=["deep-array", "deep-object", "long-int", "utf16", "nan"]
)
async def test_rates_feed_refuses_bad_json(raw: bytes) -> None:
    async with client(rates.create_app()) as feed:
        # A URL has less room than a body: 5,000 levels still pass any recursion limit.
        symbols = raw.decode("latin-1") if len(raw) < 10_000 else "[" * 5000 + "]" * 5000
        binance = await feed.get("/binance/api/v3/ticker/price", params={"symbols": symbols})
        assert binance.status_code == 400 and binance.json()["code"] == -1100
        for path in ("/_sim/reset", "/_sim/prices", "/_sim/providers/binance"):
            sim = await feed.post(path, content=raw)
            assert sim.status_code == 400, path
