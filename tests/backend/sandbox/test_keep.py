"""The dev stand-ins keep their chains across restarts (make run), and survive a bad copy."""

from __future__ import annotations

from pathlib import Path

import httpx

from backend.sandbox import bitcoin, tron
from tests.backend.connectors.bitcoin.conftest import new_address as btc_address
from tests.backend.connectors.tron.conftest import new_address as tron_address
from tests.served import Served


def _state(served: Served) -> dict[str, object]:
    reply = httpx.get(served.url + "/_sim/state")
    assert reply.status_code == 200
    state: dict[str, object] = reply.json()
    return state


def test_the_bitcoin_chain_and_mempool_survive_a_restart(tmp_path: Path) -> None:
    kept = tmp_path / "bitcoin.pickle"
    first = Served(bitcoin.create_app(keep=kept), lifespan="on")
    httpx.post(first.url + "/_sim/pay", json={"address": btc_address(), "amount": "0.1"})
    httpx.post(first.url + "/_sim/mine", json={"blocks": 3})
    waiting = httpx.post(first.url + "/_sim/pay", json={"address": btc_address(), "amount": "1"})
    before = _state(first)
    first.stop()

    second = Served(bitcoin.create_app(keep=kept), lifespan="on")
    try:
        after = _state(second)
        assert after["bestblockhash"] == before["bestblockhash"] and after["height"] == 3
        assert after["mempool"] == [waiting.json()["txid"]]
    finally:
        second.stop()


def test_the_tron_chain_survives_a_restart(tmp_path: Path) -> None:
    kept = tmp_path / "tron.pickle"
    first = Served(tron.create_app(keep=kept), lifespan="on")
    httpx.post(first.url + "/_sim/pay", json={"address": tron_address(), "amount": "5"})
    httpx.post(first.url + "/_sim/mine", json={"blocks": 2})
    head = httpx.post(first.url + "/wallet/getnowblock", json={}).json()["blockID"]
    first.stop()

    second = Served(tron.create_app(keep=kept), lifespan="on")
    try:
        assert httpx.post(second.url + "/wallet/getnowblock", json={}).json()["blockID"] == head
        # The payer's key came back too: it can still pay.
        paid = httpx.post(second.url + "/_sim/pay", json={"address": tron_address(), "amount": "1"})
        assert paid.status_code == 200
    finally:
        second.stop()


def test_an_unreadable_copy_is_set_aside_and_the_chain_starts_afresh(tmp_path: Path) -> None:
    kept = tmp_path / "bitcoin.pickle"
    kept.write_bytes(b"not a chain")

    served = Served(bitcoin.create_app(keep=kept), lifespan="on")
    try:
        assert _state(served)["height"] == 0
        assert (tmp_path / "bitcoin.unreadable").read_bytes() == b"not a chain"
    finally:
        served.stop()
    assert kept.exists()
