"""Bitcoin Core JSON-RPC stand-in (regtest) as an app: the RPC routes plus `/_sim` control.

Control (unauthenticated, JSON): pay (one address or several `outputs`, `replaceable`),
mine, reorg (`depth`, `drop` = double-spent, `mine`), replace (RBF), noise (unrelated
transactions to fill blocks), fee (estimatesmartfee's answer, or none), down/up (HTTP 503
"Work queue depth exceeded", or -28 warming up) and state. A refused connection is what a
stopped server gives; tests stop and restart it on the same port.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from backend.sandbox.bitcoin_chain import Node, RpcError
from backend.sandbox.bitcoin_rpc import BitcoinStandIn, parse_hash
from backend.sandbox.bitcoin_wire import script_for_address
from backend.sandbox.control import SimError, base_units, endpoint
from backend.sandbox.keep import keeping, state_file

DEV_USER = "qpeapay"
DEV_PASSWORD = "qpeapay"  # noqa: S105 - the stand-in's dev credential, matched by Settings' default


def _payments(node: Node, body: dict[str, Any]) -> list[tuple[bytes, int]]:
    items = body.get("outputs") or [{"address": body.get("address"), "amount": body.get("amount")}]
    payments = []
    for item in items:
        try:
            script = script_for_address(str(item.get("address")), node.chain)
        except (ValueError, TypeError):
            raise SimError(f"not a {node.chain.name} address: {item.get('address')!r}") from None
        payments.append((script, base_units(item.get("amount"), 8)))
    return payments


def _sim_pay(sim: BitcoinStandIn, body: dict[str, Any]) -> dict[str, Any]:
    tx = sim.node.pay(_payments(sim.node, body), replaceable=bool(body.get("replaceable", True)))
    return {"txid": tx.txid}


def _sim_mine(sim: BitcoinStandIn, body: dict[str, Any]) -> dict[str, Any]:
    count = int(body.get("blocks", body.get("n", 1)))
    if not 1 <= count <= 1000:
        raise SimError("blocks must be between 1 and 1000")
    return {"hashes": sim.node.mine(count), "height": sim.node.tip.height}


def _sim_reorg(sim: BitcoinStandIn, body: dict[str, Any]) -> dict[str, Any]:
    mine = body.get("mine")
    hashes = sim.node.reorg(
        int(body.get("depth", 1)),
        drop=bool(body.get("drop", False)),
        mine=None if mine is None else int(mine),
    )
    return {"hashes": hashes, "height": sim.node.tip.height}


def _sim_replace(sim: BitcoinStandIn, body: dict[str, Any]) -> dict[str, Any]:
    tx = sim.node.replace(parse_hash(body.get("txid"), "txid"), _payments(sim.node, body))
    return {"txid": tx.txid, "replaces": body["txid"]}


def _sim_noise(sim: BitcoinStandIn, body: dict[str, Any]) -> dict[str, Any]:
    """Unrelated payers' transactions, to give blocks a realistic size."""
    count = int(body.get("transactions", 1))
    if not 1 <= count <= 20_000:
        raise SimError("transactions must be between 1 and 20000")
    for i in range(count):
        outputs = 1 + i % 2
        sim.node.pay([(b"\x00\x14" + os.urandom(20), 10_000 + i) for _ in range(outputs)])
    return {"transactions": count, "mempool": len(sim.node.mempool)}


def _sim_fee(sim: BitcoinStandIn, body: dict[str, Any]) -> dict[str, Any]:
    rate = body.get("sat_per_vb")
    sim.node.fee_rate = None if rate is None else max(1, int(rate))
    return {"sat_per_vb": sim.node.fee_rate}


def _sim_down(sim: BitcoinStandIn, body: dict[str, Any]) -> dict[str, Any]:
    mode = body.get("mode", "503")
    if mode not in ("503", "warmup"):
        raise SimError('mode is "503" (work queue full) or "warmup" (-28)')
    sim.outage.mode = mode
    return {"down": mode}


def _sim_up(sim: BitcoinStandIn, body: dict[str, Any]) -> dict[str, Any]:
    sim.outage.mode = None
    return {"down": None}


def _sim_state(sim: BitcoinStandIn, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "chain": sim.node.chain.name,
        "height": sim.node.tip.height,
        "bestblockhash": sim.node.tip.hash,
        "mempool": list(sim.node.mempool),
        "down": sim.outage.mode,
    }


def create_app(
    *,
    user: str | None = None,
    password: str | None = None,
    node: Node | None = None,
    keep: Path | None = None,
) -> Starlette:
    """The stand-in as an ASGI app; credentials default to the stack's BITCOIN_RPC_* settings.
    With `keep`, the chain is loaded from that file at startup and saved there at shutdown."""
    sim = BitcoinStandIn(
        node or Node(),
        user or os.environ.get("BITCOIN_RPC_USER", DEV_USER),
        password or os.environ.get("BITCOIN_RPC_PASSWORD", DEV_PASSWORD),
    )
    every = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    controls = {
        "pay": _sim_pay,
        "mine": _sim_mine,
        "reorg": _sim_reorg,
        "replace": _sim_replace,
        "noise": _sim_noise,
        "fee": _sim_fee,
        "down": _sim_down,
        "up": _sim_up,
    }
    routes = [
        Route("/", sim.http, methods=every),
        Route("/wallet/{wallet:path}", sim.http, methods=every),
        Route("/_sim/state", endpoint(_sim_state, sim), methods=["GET"]),
        *(
            Route(f"/_sim/{name}", endpoint(fn, sim, (RpcError,)), methods=["POST"])
            for name, fn in controls.items()
        ),
    ]
    app = Starlette(routes=routes, lifespan=keeping(keep, lambda: sim.node, sim.use))
    app.state.sim = sim
    return app


def create_dev_app() -> Starlette:
    """For `make run`: the chain survives restarts, in the stand-in's QPEAPAY_SANDBOX_DIR."""
    return create_app(keep=state_file("bitcoin"))
