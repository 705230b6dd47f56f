"""Tron fixtures: the java-tron/TronGrid stand-in on a loopback port, its control API, and the
real connector (tronpy's AsyncTron underneath) pointed at it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from tronpy.keys import PrivateKey

from backend.connectors.tron import TronConnector
from backend.sandbox.tron import create_app
from tests.served import StandIn

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def new_key() -> PrivateKey:
    return PrivateKey(os.urandom(32))


def new_address() -> str:
    return str(new_key().public_key.to_base58check_address())


class Trond(StandIn):
    def __init__(self) -> None:
        super().__init__(create_app())

    @property
    def api_url(self) -> str:
        return self.served.url + "/"

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


@pytest.fixture
def trond() -> Iterator[Trond]:
    node = Trond()
    yield node
    node.close()


def tron_connector_for(url: str) -> TronConnector:
    """The real connector, giving up on a dead node after two quick tries."""
    return TronConnector(url, USDT, attempts=2, backoff_s=0.01, timeout_s=5.0)


@pytest.fixture
async def tron(trond: Trond) -> AsyncIterator[TronConnector]:
    connector = tron_connector_for(trond.api_url)
    yield connector
    await connector.aclose()
