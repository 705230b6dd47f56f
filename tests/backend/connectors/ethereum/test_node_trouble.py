"""A troublesome node between the connector and anvil: range limits, 503s, an outage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.connectors.chain import NodeUnavailable
from backend.connectors.ethereum.client import EthereumConnector
from backend.db import unit_of_work
from backend.keys import service, signer
from backend.keys.models import AddressPurpose
from backend.runtime import Runtime
from backend.sandbox.anvil import Anvil
from backend.sandbox.ethereum import send_test_usdt
from contract.money import Asset, Money, Network
from tests.chains.anvil import Payer
from tests.served import Served


@dataclass
class Trouble:
    """What the proxy does to the next requests, and what it saw."""

    max_log_blocks: int | None = None
    fail_next: int = 0
    log_ranges: list[tuple[int, int]] = field(default_factory=list)


def picky_node(upstream: str, trouble: Trouble) -> Starlette:
    async def relay(request: Request) -> Response:
        if trouble.fail_next:
            trouble.fail_next -= 1
            return Response("upstream busy", status_code=503)
        body: dict[str, Any] = await request.json()
        if body["method"] == "eth_getLogs":
            query = body["params"][0]
            low, high = int(query["fromBlock"], 16), int(query["toBlock"], 16)
            trouble.log_ranges.append((low, high))
            if trouble.max_log_blocks is not None and high - low + 1 > trouble.max_log_blocks:
                error = {"code": -32005, "message": "query returned more than 10000 results"}
                return JSONResponse({"jsonrpc": "2.0", "id": body["id"], "error": error})
        async with httpx.AsyncClient(timeout=10.0) as client:
            answer = await client.post(upstream, json=body)
        return Response(answer.content, media_type="application/json")

    return Starlette(routes=[Route("/", relay, methods=["POST"])])


@pytest.fixture
def trouble() -> Trouble:
    return Trouble()


@pytest.fixture
def node(anvil: Anvil, trouble: Trouble) -> Iterator[Served]:
    served = Served(picky_node(anvil.rpc_url, trouble))
    yield served
    served.stop()


async def test_a_range_the_node_finds_too_wide_is_split_until_it_answers(
    runtime: Runtime, master_seed: signer.SeedInfo, anvil: Anvil, usdt: str, payer: Payer,
    node: Served, trouble: Trouble,
) -> None:  # fmt: skip
    async with unit_of_work(runtime.sessionmaker) as session:
        ours = await service.allocate(
            session, runtime.settings, Network.ethereum, AddressPurpose.deposit, "usr_split"
        )
    txid = await send_test_usdt(
        anvil.rpc_url, payer.private_key, usdt, ours.address, Money.of("9", Asset.USDT)
    )
    trouble.max_log_blocks = 4
    connector = EthereumConnector(node.url, usdt, chunk_blocks=1000, backoff_s=0.01)
    try:
        tip = await connector.tip()
        found = await connector.scan(0, tip.height, {ours.address})
    finally:
        await connector.aclose()
    assert [(t.txid, t.amount) for t in found] == [(txid, Money.of("9", Asset.USDT))]
    answered = [(low, high) for low, high in trouble.log_ranges if high - low + 1 <= 4]
    covered = sorted(block for low, high in answered for block in range(low, high + 1))
    assert covered == list(range(tip.height + 1))  # every block, exactly once


async def test_transient_failures_are_retried_then_reported(
    usdt: str, node: Served, trouble: Trouble
) -> None:
    connector = EthereumConnector(node.url, usdt, attempts=3, backoff_s=0.01)
    try:
        trouble.fail_next = 2
        assert (await connector.tip()).height >= 0
        trouble.fail_next = 3
        with pytest.raises(NodeUnavailable):
            await connector.tip()
    finally:
        await connector.aclose()


async def test_a_node_that_goes_down_and_comes_back(usdt: str, node: Served) -> None:
    connector = EthereumConnector(node.url, usdt, attempts=2, backoff_s=0.01)
    try:
        before = await connector.tip()
        node.stop()
        with pytest.raises(NodeUnavailable):
            await connector.tip()
        with pytest.raises(NodeUnavailable):
            await connector.ready()
        node.start()
        assert (await connector.tip()).height >= before.height
        assert await connector.ready() == "ok"
    finally:
        await connector.aclose()
