"""Bitcoin fixtures: the Core stand-in served on a loopback port, its control API, and the
real connector (python-bitcoinrpc underneath) pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from bip_utils import SegwitBech32Encoder

from backend.connectors.bitcoin import BitcoinConnector, BitcoinRpc
from backend.sandbox.bitcoin import create_app
from backend.settings import BitcoinNetwork
from tests.served import StandIn


def new_address() -> str:
    """A fresh regtest P2WPKH address (nobody's key: the stand-in checks no signatures)."""
    return str(SegwitBech32Encoder.Encode("bcrt", 0, os.urandom(20)))


class Bitcoind(StandIn):
    def __init__(self) -> None:
        super().__init__(create_app(), sim_timeout_s=60)

    @property
    def rpc_url(self) -> str:
        return self.served.url + "/"

    def pay(self, address: str, amount: str, **extra: Any) -> str:
        return str(self._post("/pay", address=address, amount=amount, **extra)["txid"])

    def pay_many(self, outputs: list[tuple[str, str]]) -> str:
        items = [{"address": a, "amount": v} for a, v in outputs]
        return str(self._post("/pay", outputs=items)["txid"])

    def mine(self, blocks: int = 1) -> list[str]:
        return list(self._post("/mine", blocks=blocks)["hashes"])

    def reorg(self, depth: int, **extra: Any) -> list[str]:
        return list(self._post("/reorg", depth=depth, **extra)["hashes"])

    def replace(self, txid: str, address: str, amount: str) -> str:
        return str(self._post("/replace", txid=txid, address=address, amount=amount)["txid"])

    def fee(self, sat_per_vb: int | None) -> None:
        self._post("/fee", sat_per_vb=sat_per_vb)

    def down(self, mode: str = "503") -> None:
        self._post("/down", mode=mode)

    def up(self) -> None:
        self._post("/up")


@pytest.fixture
def bitcoind() -> Iterator[Bitcoind]:
    node = Bitcoind()
    yield node
    node.close()


def connector_for(url: str, **rpc: Any) -> BitcoinConnector:
    options: dict[str, Any] = {"attempts": 2, "backoff_s": 0.01, "timeout_s": 5.0} | rpc
    return BitcoinConnector(
        BitcoinRpc(url, "qpeapay", "qpeapay", **options), BitcoinNetwork.regtest
    )


@pytest.fixture
def bitcoin(bitcoind: Bitcoind) -> BitcoinConnector:
    return connector_for(bitcoind.rpc_url)


def btc(amount: str) -> Decimal:
    return Decimal(amount)
