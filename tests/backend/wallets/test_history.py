"""GET /v1/transactions: deposits, withdrawals and transfers in one list, newest first, each
line once across cursor pages however the sources interleave, with live status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from backend.chains.watcher import Watcher
from backend.keys import signer
from backend.runtime import Runtime
from contract.money import Asset, Network
from tests.backend.connectors.tron.conftest import new_address as new_tron_address
from tests.backend.wallets.nodes import Nodes
from tests.backend.wallets.support import credit, key
from tests.identity import Account
from tests.rates_feed import RatesFeed


@pytest.fixture(autouse=True)
def _setting(rates_feed: RatesFeed, master_seed: signer.SeedInfo) -> None:
    """Rates for limits; a seed for deposit addresses."""


async def pages(api: httpx.AsyncClient, account: Account, **params: Any) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        page = (await api.get("/v1/transactions", params=query, headers=account.headers)).json()
        lines += page["data"]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return lines
        cursor = page["next_cursor"]


async def test_every_kind_of_movement_in_one_paged_list(
    api: httpx.AsyncClient, runtime: Runtime, nodes: Nodes, customer: Account, merchant: Account
) -> None:
    deposit = (await api.get("/v1/wallets/bitcoin/address", headers=customer.headers)).json()
    watcher = Watcher(runtime, nodes.bitcoin, confirmations=1)
    try:
        await watcher.tick()
        nodes.bitcoind.pay(deposit["address"], "0.001")
        nodes.bitcoind.mine(1)
        await watcher.tick()
    finally:
        await watcher.leadership.release()
    await credit(runtime, customer.user_id, "100", Asset.USDT, Network.tron)
    theirs = (await api.get("/v1/wallets/tron/address", headers=merchant.headers)).json()

    async def post(path: str, **body: Any) -> str:
        response = await api.post(path, json=body, headers=customer.headers | key())
        assert response.status_code == 201, response.text
        made: str = response.json()["id"]
        return made

    sent = await post("/v1/transfers", to=merchant.email, asset="USDT", amount="5")
    back = await api.post("/v1/transfers", json={"to": customer.email, "asset": "USDT",
                          "amount": "1"}, headers=merchant.headers | key())  # fmt: skip
    internal = await post("/v1/withdrawals", asset="USDT", network="tron",
                          address=theirs["address"], amount="3")  # fmt: skip
    onchain = await post("/v1/withdrawals", asset="USDT", network="tron",
                         address=new_tron_address(), amount="2")  # fmt: skip

    lines = await pages(api, customer, limit=2)

    assert [(line["id"], line["kind"], line["status"]) for line in lines] == [
        (onchain, "withdrawal", "pending"),
        (internal, "withdrawal", "completed"),
        (back.json()["id"], "transfer_in", "completed"),
        (sent, "transfer_out", "completed"),
        (lines[-1]["id"], "deposit", "completed"),
    ]
    assert lines[0]["state"] == "requested" and lines[0]["confirmations"] == 0
    assert lines[1]["confirmations"] is None and lines[1]["fee"]["amount"] == "0.000000"
    assert lines[2]["counterparty"] == merchant.email
    assert lines[-1]["amount"] == {"amount": "0.00100000", "asset": "BTC"}
    assert lines[-1]["txid"] and lines[-1]["confirmations"] >= 1
    # Filtered by asset, and the other side sees its own lines.
    assert [line["asset"] for line in await pages(api, customer, asset="BTC")] == ["BTC"]
    assert [line["kind"] for line in await pages(api, merchant)] == [
        "deposit", "transfer_out", "transfer_in",
    ]  # fmt: skip


async def test_a_foreign_cursor_is_400(api: httpx.AsyncClient, customer: Account) -> None:
    response = await api.get(
        "/v1/transactions", params={"cursor": "not-ours"}, headers=customer.headers
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
