"""Block scanning: one 3,000-transaction block checked against 100,000 watched addresses, for
Bitcoin (python-bitcoinrpc's raw `getblock … 0`, parsed for txids and outputs, against the Core
stand-in) and Tron (block and receipts against the java-tron stand-in), each against the bare
fetch-and-decode of the same block in the same run, so the ratio says what matching costs on
top of reading the block at all. The stand-ins
run in their own processes, as nodes do, so their work never holds this process's GIL."""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from bip_utils import SegwitBech32Encoder
from tronpy.keys import PrivateKey

from backend.connectors.bitcoin import BitcoinConnector, BitcoinRpc
from backend.connectors.tron import TronConnector
from backend.settings import BitcoinNetwork
from tests.perf.harness import BenchContext
from tests.served import Spawned

BLOCK_TXS = 3_000
WATCHED = 100_000
PAID = 50  # of the block's transactions pay a watched address
RUNS = 5
AIM_MS = 100.0
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"

Action = Callable[[], Awaitable[Any]]


async def _medians_ms(*actions: Action) -> list[float]:
    """Median time of each action, run in turns so machine noise hits them alike, each after a
    full collection and with the collector paused, so no action pays for another's garbage."""
    timings: list[list[float]] = [[] for _ in actions]
    for _ in range(RUNS):
        for action, times in zip(actions, timings, strict=True):
            gc.collect()
            gc.disable()
            try:
                started = time.perf_counter()
                await action()
                times.append((time.perf_counter() - started) * 1000)
            finally:
                gc.enable()
    return [statistics.median(times) for times in timings]


def _sync(work: Callable[[], Any]) -> Action:
    async def run() -> Any:
        return work()

    return run


def _lines(chain: str, scan_ms: float, fetch_ms: float, match_ms: float, found: int) -> list[str]:
    verdict = "within" if scan_ms <= AIM_MS else "over"
    return [
        f"{chain}: scan of one {BLOCK_TXS:,}-tx block against {WATCHED:,} addresses: "
        f"{scan_ms:.1f} ms (median of {RUNS}; aim {AIM_MS:.0f} ms: {verdict}), {found} found",
        f"{chain}:   fetch + decode of the same block alone: {fetch_ms:.1f} ms; "
        f"scan / fetch = {scan_ms / fetch_ms:.2f}x; matching alone {match_ms:.2f} ms",
    ]


async def _fill(sim_url: str, paid: list[str], amount: str) -> None:
    """A block of BLOCK_TXS transactions, PAID of them to watched addresses."""
    async with httpx.AsyncClient(base_url=sim_url, timeout=300) as sim:
        (await sim.post("/noise", json={"transactions": BLOCK_TXS - len(paid)})).raise_for_status()
        for address in paid:
            (await sim.post("/pay", json={"address": address, "amount": amount})).raise_for_status()
        (await sim.post("/mine", json={"blocks": 1})).raise_for_status()


async def _bitcoin() -> list[str]:
    watched = {str(SegwitBech32Encoder.Encode("bcrt", 0, os.urandom(20))) for _ in range(WATCHED)}
    node = Spawned("backend.sandbox.bitcoin:create_app")
    try:
        await _fill(node.url + "/_sim", sorted(watched)[:PAID], "0.001")
        rpc = BitcoinRpc(node.url + "/", "qpeapay", "qpeapay")
        bitcoin = BitcoinConnector(rpc, BitcoinNetwork.regtest)
        found = len(await bitcoin.scan(1, 1, watched))  # converts the addresses, once
        ref, block = await bitcoin._block(1)
        scripts = bitcoin._scripts(watched)

        fetch_ms, scan_ms, match_ms = await _medians_ms(
            lambda: bitcoin._block(1),
            lambda: bitcoin.scan(1, 1, watched),
            _sync(lambda: list(bitcoin._match(ref, block, scripts))),
        )
        return _lines("bitcoin", scan_ms, fetch_ms, match_ms, found)
    finally:
        node.stop()


async def _tron() -> list[str]:
    watched = {
        PrivateKey(os.urandom(32)).public_key.to_base58check_address() for _ in range(WATCHED)
    }
    node = Spawned("backend.sandbox.tron:create_app")
    tron = TronConnector(node.url, USDT)
    try:
        await _fill(node.url + "/_sim", sorted(watched)[:PAID], "1.5")
        found = len(await tron.scan(1, 1, watched))  # converts the addresses, once
        accounts = tron._accounts(watched)

        async def fetch() -> tuple[dict[str, Any], Any]:
            block, receipts = await asyncio.gather(
                tron._block(1),
                tron._request("wallet/gettransactioninfobyblocknum", {"num": 1}),
            )
            return block, receipts

        block, receipts = await fetch()
        fetch_ms, scan_ms, match_ms = await _medians_ms(
            fetch,
            lambda: tron.scan(1, 1, watched),
            _sync(lambda: list(tron._match(block, receipts, accounts))),
        )
        return _lines("tron", scan_ms, fetch_ms, match_ms, found)
    finally:
        await tron.aclose()
        node.stop()


async def run(ctx: BenchContext) -> list[str]:
    return await _bitcoin() + await _tron()
