"""Tron fixtures: the java-tron/TronGrid stand-in on a loopback port, its control API, and the
real connector (tronpy's AsyncTron underneath) pointed at it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from tronpy.keys import PrivateKey

from backend.connectors.tron import TronConnector
from backend.sandbox.tron import create_app
from tests.served import Served

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def new_key() -> PrivateKey:
    return PrivateKey(os.urandom(32))


def new_address() -> str:
    return str(new_key().public_key.to_base58check_address())


class Trond:
    """The served stand-in and its /_sim control API."""

    def __init__(self) -> None:
        self.served = Served(create_app())
        self.http = httpx.Client(base_url=self.served.url + "/_sim", timeout=30)

    @property
    def api_url(self) -> str:
        return self.served.url + "/"

    def _post(self, path: str, **body: Any) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def pay(self, address: str, amount: str, asset: str = "USDT") -> str:
        return str(self._post("/pay", address=address, amount=amount, asset=asset)["txid"])

    def fail(self, address: str, amount: str) -> str:
        return str(self._post("/fail", address=address, amount=amount)["txid"])

    def mine(self, blocks: int = 1) -> list[str]:
        return list(self._post("/mine", blocks=blocks)["block_ids"])

    def reorg(self, depth: int, **extra: Any) -> list[str]:
        return list(self._post("/reorg", depth=depth, **extra)["block_ids"])

    def config(self, **values: Any) -> None:
        self._post("/config", **values)

    def down(self) -> None:
        self._post("/down")

    def up(self) -> None:
        self._post("/up")

    def close(self) -> None:
        self.http.close()
        self.served.stop()


@pytest.fixture
def trond() -> Iterator[Trond]:
    node = Trond()
    yield node
    node.close()


@pytest.fixture
async def tron(trond: Trond) -> AsyncIterator[TronConnector]:
    connector = TronConnector(trond.api_url, USDT, attempts=2, backoff_s=0.01, timeout_s=5.0)
    yield connector
    await connector.aclose()
