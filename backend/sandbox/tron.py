"""TronGrid / java-tron HTTP API stand-in as an app: the API routes plus `/_sim` control.

The solid head trails the head by `solid_lag` blocks (19, as on mainnet). Control
(unauthenticated, JSON): pay (USDT TRC-20 by default, or TRX), fail (a USDT transfer that
reverts in its block), noise (strangers' transfers to fill blocks), mine, reorg (above the
solid head only), config (solid_lag, energy_fee), down/up (HTTP 503) and state. The dev app
produces a block every 3 s by itself, as mainnet does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from backend.clock import SYSTEM, Clock
from backend.sandbox.control import SimError, base_units, endpoint
from backend.sandbox.keep import keeping, state_file
from backend.sandbox.tron_api import TronStandIn
from backend.sandbox.tron_chain import BroadcastError, TronNode
from backend.sandbox.tron_wire import AddressError, to_hex
from contract.money import Asset, Money


async def send_trx(sim_url: str, to: str, amount: Money) -> str:
    """Pay TRX from the stand-in (gas money for one of our addresses) through its control
    API at `sim_url`; the txid, in the next block."""
    if amount.asset is not Asset.TRX:
        raise ValueError("send_trx moves TRX")
    async with httpx.AsyncClient(timeout=10) as client:
        paid = await client.post(
            f"{sim_url}/pay", json={"address": to, "amount": str(amount.amount), "asset": "TRX"}
        )
    paid.raise_for_status()
    return str(paid.json()["txid"])


def _address(body: dict[str, Any]) -> str:
    try:
        return to_hex(str(body.get("address", "")))
    except AddressError:
        raise SimError(f"not a Tron address: {body.get('address')!r}") from None


def _sim_pay(sim: TronStandIn, body: dict[str, Any]) -> dict[str, Any]:
    asset = str(body.get("asset", "USDT")).upper()
    if asset not in ("USDT", "TRX"):
        raise SimError('asset is "USDT" (TRC-20, the default) or "TRX"')
    to, units = _address(body), base_units(body.get("amount"), 6)
    node = sim.node
    txid = node.pay_trx(to, units) if asset == "TRX" else node.pay_usdt(to, units)
    return {"txid": txid}


def _sim_fail(sim: TronStandIn, body: dict[str, Any]) -> dict[str, Any]:
    """A USDT transfer from a payer without USDT: it lands in a block as REVERT."""
    units = base_units(body.get("amount"), 6)
    return {"txid": sim.node.pay_usdt(_address(body), units, broke=True)}


def _sim_noise(sim: TronStandIn, body: dict[str, Any]) -> dict[str, Any]:
    """USDT transfers between strangers, to give blocks a realistic size."""
    count = int(body.get("transactions", 1))
    if not 1 <= count <= 20_000:
        raise SimError("transactions must be between 1 and 20000")
    for i in range(count):
        sim.node.pay_usdt("41" + os.urandom(20).hex(), 1_000_000 + i)
    return {"transactions": count, "pending": len(sim.node.pending)}


def _sim_mine(sim: TronStandIn, body: dict[str, Any]) -> dict[str, Any]:
    count = int(body.get("blocks", body.get("n", 1)))
    if not 1 <= count <= 1000:
        raise SimError("blocks must be between 1 and 1000")
    ids = sim.node.mine(count)
    return {"block_ids": ids, "height": sim.node.head.number, "solid": sim.node.solid.number}


def _sim_reorg(sim: TronStandIn, body: dict[str, Any]) -> dict[str, Any]:
    mine = body.get("mine")
    ids = sim.node.reorg(
        int(body.get("depth", 1)),
        drop=bool(body.get("drop", False)),
        mine=None if mine is None else int(mine),
    )
    return {"block_ids": ids, "height": sim.node.head.number}


def _sim_config(sim: TronStandIn, body: dict[str, Any]) -> dict[str, Any]:
    if "solid_lag" in body:
        sim.node.solid_lag = max(0, int(body["solid_lag"]))
    if "energy_fee" in body:
        sim.node.energy_fee = max(1, int(body["energy_fee"]))
    return {"solid_lag": sim.node.solid_lag, "energy_fee": sim.node.energy_fee}


def _sim_down(sim: TronStandIn, body: dict[str, Any]) -> dict[str, Any]:
    sim.down = True
    return {"down": True}


def _sim_up(sim: TronStandIn, body: dict[str, Any]) -> dict[str, Any]:
    sim.down = False
    return {"down": False}


def _sim_state(sim: TronStandIn, body: dict[str, Any]) -> dict[str, Any]:
    node = sim.node
    return {
        "height": node.head.number,
        "solid": node.solid.number,
        "pending": list(node.pending),
        "usdt_contract": node.usdt_contract,
        "payer": node.payer,
        "down": sim.down,
    }


def create_app(
    *,
    node: TronNode | None = None,
    block_interval_s: float | None = None,
    keep: Path | None = None,
    clock: Clock = SYSTEM,
) -> Starlette:
    """The stand-in as an ASGI app; with `block_interval_s` it produces blocks by itself (on
    `clock`'s time), with `keep` the chain is loaded from that file at startup and saved
    there at shutdown."""
    sim = TronStandIn(node or TronNode())
    every = ["GET", "POST"]
    controls = {
        "pay": _sim_pay,
        "fail": _sim_fail,
        "noise": _sim_noise,
        "mine": _sim_mine,
        "reorg": _sim_reorg,
        "config": _sim_config,
        "down": _sim_down,
        "up": _sim_up,
    }
    routes = [
        Route("/wallet/{method}", sim.http, methods=every),
        Route("/walletsolidity/{method}", sim.http, methods=every),
        Route("/_sim/state", endpoint(_sim_state, sim), methods=["GET"]),
        *(
            Route(f"/_sim/{name}", endpoint(fn, sim, (BroadcastError,)), methods=["POST"])
            for name, fn in controls.items()
        ),
    ]

    kept = keeping(keep, lambda: sim.node, lambda loaded: setattr(sim, "node", loaded))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with kept(app):
            producer = None
            if block_interval_s:

                async def produce() -> None:
                    while True:
                        await clock.sleep(block_interval_s)
                        sim.node.mine(1)

                producer = asyncio.create_task(produce())
            yield
            if producer is not None:
                producer.cancel()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sim = sim
    return app


def create_dev_app() -> Starlette:
    """For `make run`: a block every 3 s like mainnet (TRON_SANDBOX_BLOCK_INTERVAL_S), and the
    chain survives restarts, in the stand-in's QPEAPAY_SANDBOX_DIR."""
    interval = os.environ.get("TRON_SANDBOX_BLOCK_INTERVAL_S", "3")
    seconds = float(interval)  # float-ok: seconds between blocks
    return create_app(block_interval_s=seconds, keep=state_file("tron"))
