"""A local anvil node (npm @foundry-rs/anvil) for tests and dev: start, control, stop.

Invariants: anvil listens on loopback only, in its own process group, and `stop()` ends
that group, so no node outlives the test session or the stack that started it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from backend.dev.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
CHAIN_ID = 31337
# Anvil's well-known dev mnemonic "test test … junk" gives account 0 this key and 10,000
# ETH; it guards nothing (every Foundry user has it) and only ever exists on a local chain.
DEV_ACCOUNT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


class AnvilError(RuntimeError):
    """Anvil is missing, did not start, or refused a control call."""


def anvil_command() -> list[str]:
    # The npm wrapper (.bin/anvil) does not forward SIGTERM to the native binary reliably;
    # run the platform package's binary when it is there.
    for native in sorted((ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        return [str(native)]
    wrapper = ROOT / "node_modules" / ".bin" / "anvil"
    if not wrapper.exists():
        raise AnvilError("anvil is missing: run `npm install` (or `make install`)")
    return [str(wrapper)]


@dataclass
class Anvil:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def rpc(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call, for anvil's control methods web3.py does not wrap."""
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        async with httpx.AsyncClient(timeout=10.0) as client:
            answer = (await client.post(self.rpc_url, json=payload)).json()
        if "error" in answer:
            raise AnvilError(f"{method}: {answer['error']}")
        return answer["result"]

    async def mine(self, blocks: int = 1) -> None:
        await self.rpc("anvil_mine", hex(blocks))

    async def snapshot(self) -> str:
        snapshot_id: str = await self.rpc("evm_snapshot")
        return snapshot_id

    async def revert(self, snapshot_id: str) -> None:
        """Rewind the chain to a snapshot; later blocks are gone (a snapshot is single-use)."""
        if not await self.rpc("evm_revert", snapshot_id):
            raise AnvilError(f"evm_revert refused snapshot {snapshot_id}")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _answers(rpc_url: str) -> bool:
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        return int(httpx.post(rpc_url, json=payload, timeout=1.0).json()["result"], 16) == CHAIN_ID
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def start_anvil(port: int | None = None, *args: str, timeout_s: float = 30.0) -> Anvil:
    """Start anvil on loopback (a free port unless given) and wait until it answers."""
    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
        [
            *anvil_command(),
            "--host=127.0.0.1",
            f"--port={port}",
            f"--chain-id={CHAIN_ID}",
            "--silent",
            *args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    node = Anvil(process, port)
    deadline = time.monotonic() + timeout_s
    while not _answers(node.rpc_url):
        if process.poll() is not None or time.monotonic() > deadline:
            node.stop()
            raise AnvilError(f"anvil did not start on port {port}")
        time.sleep(0.05)
    return node
