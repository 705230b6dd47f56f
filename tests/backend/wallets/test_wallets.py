"""Balances and deposit addresses through the API: balances come from the ledger (and
pending deposits per network), a deposit address is allocated once and returned on every
call, with a QR code of its payment URI where the network has one."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from backend.db import unit_of_work
from backend.keys import signer
from backend.keys.models import ChainAddress
from backend.runtime import Runtime
from backend.wallets import service
from contract.money import Asset, Network
from tests.backend.wallets.support import credit, wallet
from tests.identity import Account


async def test_a_new_customer_has_empty_wallets_for_btc_and_usdt(
    api: httpx.AsyncClient, customer: Account
) -> None:
    response = await api.get("/v1/wallets", headers=customer.headers)

    assert response.status_code == 200
    assert response.json() == {
        "BTC": {"asset": "BTC", "available": "0.00000000", "pending": "0.00000000",
                "held": "0.00000000", "networks": {"bitcoin": {"pending": "0.00000000"}}},
        "USDT": {"asset": "USDT", "available": "0.000000", "pending": "0.000000",
                 "held": "0.000000",
                 "networks": {"ethereum": {"pending": "0.000000"},
                              "tron": {"pending": "0.000000"}}},
    }  # fmt: skip


async def test_credits_show_as_available_in_one_pool_across_networks(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account
) -> None:
    await credit(runtime, customer.user_id, "12.5", Asset.USDT, Network.ethereum)
    await credit(runtime, customer.user_id, "0.25", Asset.USDT, Network.tron)

    usdt = await wallet(api, customer, Asset.USDT)

    assert usdt["available"] == "12.750000"
    assert usdt["held"] == "0.000000"


async def test_wallets_need_a_signed_in_customer_or_merchant(
    api: httpx.AsyncClient, admin: Account
) -> None:
    assert (await api.get("/v1/wallets")).status_code == 401
    assert (await api.get("/v1/wallets", headers=admin.headers)).status_code == 403


async def test_the_deposit_address_is_allocated_once_and_the_same_on_every_call(
    api: httpx.AsyncClient, runtime: Runtime, customer: Account, master_seed: signer.SeedInfo
) -> None:
    url = "/v1/wallets/ethereum/address"
    # Racing first calls still give one address.
    answers = await asyncio.gather(*(api.get(url, headers=customer.headers) for _ in range(5)))
    again = await api.get(url, headers=customer.headers)

    assert {r.status_code for r in answers} == {200}
    addresses = {r.json()["address"] for r in [*answers, again]}
    assert len(addresses) == 1
    body = again.json()
    assert body["address"].startswith("0x") and len(body["address"]) == 42
    assert body["assets"] == ["USDT"]
    assert body["uri"] is None
    assert body["qr_svg"].startswith("<svg") and "viewBox" in body["qr_svg"]
    async with unit_of_work(runtime.sessionmaker) as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(ChainAddress)
            .where(ChainAddress.owner_id == customer.user_id)
        )
    assert rows == 1


async def test_each_network_has_its_own_address_and_bitcoin_a_bip21_uri(
    api: httpx.AsyncClient, customer: Account, other_merchant: Account,
    master_seed: signer.SeedInfo,
) -> None:  # fmt: skip
    bitcoin = (await api.get("/v1/wallets/bitcoin/address", headers=customer.headers)).json()
    tron = (await api.get("/v1/wallets/tron/address", headers=customer.headers)).json()
    theirs = (await api.get("/v1/wallets/bitcoin/address", headers=other_merchant.headers)).json()

    assert bitcoin["address"].startswith("bcrt1")
    assert bitcoin["uri"] == f"bitcoin:{bitcoin['address']}"
    assert bitcoin["assets"] == ["BTC"]
    # The QR code carries the URI (what a phone wallet reads), not the bare address.
    title = "Bitcoin deposit address"
    assert bitcoin["qr_svg"] == service.qr_svg(bitcoin["uri"], title)
    assert bitcoin["qr_svg"] != service.qr_svg(bitcoin["address"], title)
    assert 'xmlns="http://www.w3.org/2000/svg"' in bitcoin["qr_svg"]
    assert tron["address"].startswith("T") and tron["assets"] == ["USDT"]
    assert theirs["address"] != bitcoin["address"]


async def test_an_unknown_network_is_404_and_no_seed_is_503(
    api: httpx.AsyncClient, customer: Account
) -> None:
    unknown = await api.get("/v1/wallets/dogecoin/address", headers=customer.headers)
    no_seed = await api.get("/v1/wallets/bitcoin/address", headers=customer.headers)

    assert unknown.status_code == 404
    assert unknown.json()["error"]["param"] == "network"
    assert no_seed.status_code == 503
    assert no_seed.json()["error"]["code"] == "seed_missing"


async def test_pending_is_empty_until_a_deposit_is_seen(
    api: httpx.AsyncClient, customer: Account
) -> None:
    btc = await wallet(api, customer, Asset.BTC)

    assert Decimal(btc["pending"]) == 0
    assert Decimal(btc["networks"]["bitcoin"]["pending"]) == 0
