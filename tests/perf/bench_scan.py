"""Block scanning against a million watched addresses, as the watchers do it: one 3,000-
transaction block's recipients looked up in PostgreSQL (`chain_addresses.match_key = ANY`,
one query per block), for Bitcoin (python-bitcoinrpc's raw `getblock … 0` against the Core
stand-in) and Tron (block and receipts against the java-tron stand-in), each against the
bare fetch-and-decode of the same block in the same run, so the ratio says what matching
costs on top of reading the block at all. Then a watcher's start-up: from a new `Watcher`
to the end of its first tick, which scans that block and records its payments, while an
event-loop lag probe runs beside it (what every request on the same loop would wait).

The addresses go in with COPY; the stand-ins run in their own processes, as nodes do, so
their work never holds this process's GIL."""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
from bip_utils import Base58Encoder, SegwitBech32Encoder
from sqlalchemy import text

from backend.chains.models import ChainCursor
from backend.chains.watched import WatchedAddresses
from backend.chains.watcher import Watcher
from backend.connectors.bitcoin import BitcoinConnector, BitcoinRpc
from backend.connectors.bitcoin.client import _scripts_of
from backend.connectors.chain import ChainConnector
from backend.connectors.tron import TronConnector
from backend.db import unit_of_work
from backend.keys.models import AccountKey
from backend.runtime import open_runtime
from backend.settings import BitcoinNetwork
from contract.money import Network
from tests.perf.harness import BenchContext
from tests.served import Spawned

BLOCK_TXS = 3_000
WATCHED = 1_000_000
PAID = 50  # of the block's transactions pay a watched address
RUNS = 5
AIM_MS = 100.0
AIM_START_S = 2.0
COPY_ROWS = 100_000
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
COLUMNS = ["id", "network", "derivation_index", "address", "purpose", "owner_id", "match_key"]

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


def _bitcoin_addresses() -> Iterator[tuple[str, str]]:
    """(address, match key) of WATCHED random P2WPKH regtest addresses."""
    for _ in range(WATCHED):
        program = os.urandom(20)
        yield str(SegwitBech32Encoder.Encode("bcrt", 0, program)), "0014" + program.hex()


def _tron_addresses() -> Iterator[tuple[str, str]]:
    for _ in range(WATCHED):
        account = os.urandom(20)
        yield str(Base58Encoder.CheckEncode(b"\x41" + account)), account.hex()


async def _watch(ctx: BenchContext, network: Network, rows: Iterator[tuple[str, str]]) -> list[str]:
    """COPY WATCHED addresses of `network` into chain_addresses; returns the first PAID."""
    async with unit_of_work(ctx.sessionmaker) as session:
        session.add(AccountKey(network=network, coin="bench", path="m/0'", xpub="bench"))
    first: list[str] = []
    batch: list[tuple[Any, ...]] = []
    async with ctx.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        if raw is None:
            raise RuntimeError("no driver connection")
        for index, (address, key) in enumerate(rows):
            if index < PAID:
                first.append(address)
            owner = f"usr_bench{index % 1000}"
            batch.append((f"adr_{network}{index}", network, index, address, "deposit", owner, key))
            if len(batch) == COPY_ROWS:
                await raw.copy_records_to_table("chain_addresses", records=batch, columns=COLUMNS)
                batch = []
        if batch:
            await raw.copy_records_to_table("chain_addresses", records=batch, columns=COLUMNS)
        await conn.commit()
        await conn.execute(text("ANALYZE chain_addresses"))
        await conn.commit()
    return first


def _loaded(chain: str, started: float) -> str:
    elapsed = time.perf_counter() - started
    return f"{chain}: {WATCHED:,} addresses generated and COPYed in {elapsed:.1f} s"


async def _fill(sim_url: str, paid: list[str], amount: str) -> None:
    """A block of BLOCK_TXS transactions, PAID of them to watched addresses."""
    async with httpx.AsyncClient(base_url=sim_url, timeout=300) as sim:
        (await sim.post("/noise", json={"transactions": BLOCK_TXS - len(paid)})).raise_for_status()
        for address in paid:
            (await sim.post("/pay", json={"address": address, "amount": amount})).raise_for_status()
        (await sim.post("/mine", json={"blocks": 1})).raise_for_status()


def _scan_lines(
    chain: str, scan_ms: float, fetch_ms: float, lookup_ms: float, keys: int, found: int
) -> list[str]:
    verdict = "within" if scan_ms <= AIM_MS else "over"
    return [
        f"{chain}: scan of one {BLOCK_TXS:,}-tx block against {WATCHED:,} addresses in "
        f"PostgreSQL: {scan_ms:.1f} ms (median of {RUNS}; aim {AIM_MS:.0f} ms: {verdict}), "
        f"{found} found",
        f"{chain}:   fetch + decode of the same block alone: {fetch_ms:.1f} ms; "
        f"scan / fetch = {scan_ms / fetch_ms:.2f}x; the lookup of its {keys:,} keys alone "
        f"{lookup_ms:.2f} ms",
    ]


async def _lag_probe(stop: asyncio.Event, lags: list[float]) -> None:
    """How late a 1 ms sleep wakes, again and again: what a request on this loop would wait."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append((time.perf_counter() - started - 0.001) * 1000)


async def _start_up(ctx: BenchContext, chain: str, connector: ChainConnector) -> list[str]:
    """A new watcher whose cursor sits below the block: time to the end of its first tick."""
    genesis = await connector.block_at(0)
    async with unit_of_work(ctx.sessionmaker) as session:
        session.add(
            ChainCursor(network=connector.network, height=0, hash=genesis.hash, tip_height=0)
        )
    async with open_runtime(ctx.settings) as runtime:
        stop, lags = asyncio.Event(), list[float]()
        probe = asyncio.create_task(_lag_probe(stop, lags))
        await asyncio.sleep(0.05)
        gc.collect()
        started = time.perf_counter()
        watcher = Watcher(runtime, connector, confirmations=1)
        try:
            tick = await watcher.tick()
        finally:
            elapsed = time.perf_counter() - started
            stop.set()
            await probe
            await watcher.leadership.release()
    verdict = "within" if elapsed <= AIM_START_S else "over"
    return [
        f"{chain}: watcher start-up to the end of its first tick (one {BLOCK_TXS:,}-tx block "
        f"scanned, {tick.recorded} payments recorded, {tick.confirmed} confirmed) with "
        f"{WATCHED:,} watched: {elapsed * 1000:.0f} ms (aim {AIM_START_S:.0f} s: {verdict})",
        f"{chain}:   event-loop lag meanwhile: worst {max(lags):.1f} ms, median "
        f"{statistics.median(lags):.2f} ms over {len(lags)} probes",
    ]


async def _bitcoin(ctx: BenchContext) -> list[str]:
    started = time.perf_counter()
    paid = await _watch(ctx, Network.bitcoin, _bitcoin_addresses())
    loaded = _loaded("bitcoin", started)
    watched = WatchedAddresses(Network.bitcoin, ctx.sessionmaker)
    node = Spawned("backend.sandbox.bitcoin:create_app")
    try:
        await _fill(node.url + "/_sim", paid, "0.001")
        rpc = BitcoinRpc(node.url + "/", "qpeapay", "qpeapay")
        bitcoin = BitcoinConnector(rpc, BitcoinNetwork.regtest)
        found = len(await bitcoin.scan(1, 1, watched))
        _, block = await bitcoin._block(1)
        keys = set(_scripts_of(block))
        fetch_ms, scan_ms, lookup_ms = await _medians_ms(
            lambda: bitcoin._block(1),
            lambda: bitcoin.scan(1, 1, watched),
            lambda: watched.lookup(keys),
        )
        lines = _scan_lines("bitcoin", scan_ms, fetch_ms, lookup_ms, len(keys), found)
        return [loaded, *lines, *await _start_up(ctx, "bitcoin", bitcoin)]
    finally:
        node.stop()


async def _tron(ctx: BenchContext) -> list[str]:
    started = time.perf_counter()
    paid = await _watch(ctx, Network.tron, _tron_addresses())
    loaded = (
        f"tron: {WATCHED:,} addresses generated and COPYed in {time.perf_counter() - started:.1f} s"
    )
    watched = WatchedAddresses(Network.tron, ctx.sessionmaker)
    node = Spawned("backend.sandbox.tron:create_app")
    tron = TronConnector(node.url, USDT)
    try:
        await _fill(node.url + "/_sim", paid, "1.5")
        found = len(await tron.scan(1, 1, watched))

        async def fetch() -> tuple[dict[str, Any], Any]:
            block, receipts = await asyncio.gather(
                tron._block(1),
                tron._request("wallet/gettransactioninfobyblocknum", {"num": 1}),
            )
            return block, receipts

        block, receipts = await fetch()
        keys = set(tron._recipients(block, receipts))
        fetch_ms, scan_ms, lookup_ms = await _medians_ms(
            fetch,
            lambda: tron.scan(1, 1, watched),
            lambda: watched.lookup(keys),
        )
        lines = _scan_lines("tron", scan_ms, fetch_ms, lookup_ms, len(keys), found)
        return [loaded, *lines, *await _start_up(ctx, "tron", tron)]
    finally:
        await tron.aclose()
        node.stop()


async def run(ctx: BenchContext) -> list[str]:
    return await _bitcoin(ctx) + await _tron(ctx)
