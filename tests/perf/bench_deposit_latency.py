"""Deposit latency: from an anvil block carrying a USDT payment to the wallet credit committed.

A real anvil node (automine off, so the block is mined at a moment we choose), our TestUSDT,
a deposit address from a fresh seed and the Ethereum watcher's loop, as the worker runs it.
Each run sends a payment, mines its block, and polls the ledger until the credit is there.
The watcher polls the node every poll interval, so a block waits half an interval on
average before anyone looks: the median is printed beside that interval and as a ratio.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable

from eth_account import Account
from eth_utils.address import to_checksum_address

from backend import logs
from backend.chains.models import ChainCursor
from backend.chains.watcher import Watcher
from backend.connectors.ethereum import erc20
from backend.connectors.ethereum.client import EthereumConnector
from backend.db import unit_of_work
from backend.keys import service as keys
from backend.keys import signer
from backend.keys.models import AddressPurpose
from backend.ledger import service as ledger
from backend.runtime import Runtime, open_runtime
from backend.sandbox.anvil import DEV_ACCOUNT_KEY, Anvil, start_anvil
from backend.sandbox.ethereum import deploy_test_usdt
from contract.money import Asset, Money, Network
from tests.perf.harness import BenchContext

RUNS = 7
POLL_INTERVALS_S = (1.0, 0.25)
PAYMENT = Money.of("10", Asset.USDT)


async def _pay(chain: EthereumConnector, to: str) -> str:
    """Send a USDT payment from anvil's dev account, without waiting for a block."""
    data = erc20.transfer_calldata(to, PAYMENT.minor_units())
    sender = Account.from_key(DEV_ACCOUNT_KEY)
    params = await chain.prepare(sender.address, chain.usdt, data=data)
    signed = Account.sign_transaction(
        {
            "type": 2,
            "chainId": params.chain_id,
            "nonce": params.nonce,
            "to": to_checksum_address(chain.usdt),
            "value": 0,
            "data": data,
            "gas": params.gas,
            "maxFeePerGas": params.max_fee_per_gas,
            "maxPriorityFeePerGas": params.max_priority_fee_per_gas,
        },
        DEV_ACCOUNT_KEY,
    )
    return await chain.broadcast(signed.raw_transaction.to_0x_hex())


async def _credited(runtime: Runtime, account_id: str) -> Money:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await ledger.balance(session, account_id)


async def _wait_for(condition: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(30):
        while not await condition():  # noqa: ASYNC110 - polls the database: no event to await
            await asyncio.sleep(0.005)


async def _following(runtime: Runtime) -> bool:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await session.get(ChainCursor, Network.ethereum) is not None


async def _latencies(
    runtime: Runtime, anvil: Anvil, chain: EthereumConnector, poll_s: float
) -> list[float]:
    async with unit_of_work(runtime.sessionmaker) as session:
        address = await keys.allocate(
            session, runtime.settings, Network.ethereum, AddressPurpose.deposit, "usr_bench"
        )
        account = await ledger.open_account(session, "usr_bench", Asset.USDT)
    watcher = Watcher(runtime, chain, confirmations=1, poll_interval_s=poll_s)
    loop = asyncio.create_task(watcher.run())
    latencies = []
    phases = random.Random(poll_s)  # where in the poll cycle each block lands
    try:
        await _wait_for(lambda: _following(runtime))  # the first tick places the cursor
        before = await _credited(runtime, account.id)
        for _ in range(RUNS):
            await _pay(chain, address.address)
            await asyncio.sleep(phases.uniform(0, poll_s))  # anywhere in the poll cycle
            await anvil.mine(1)
            mined = time.perf_counter()
            expected = before + PAYMENT

            async def credited(expected: Money = expected) -> bool:
                return await _credited(runtime, account.id) == expected

            await _wait_for(credited)
            latencies.append(time.perf_counter() - mined)
            before = expected
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    return latencies


async def run(ctx: BenchContext) -> list[str]:
    logs.configure(ctx.settings.log_level, ctx.settings.log_json)
    anvil = start_anvil()
    try:
        token = await deploy_test_usdt(anvil.rpc_url, DEV_ACCOUNT_KEY)
        await anvil.rpc("evm_setAutomine", False)
        chain = EthereumConnector(anvil.rpc_url, token)
        lines = []
        async with open_runtime(ctx.settings) as runtime:
            async with unit_of_work(runtime.sessionmaker) as session:
                await signer.create_seed(session, runtime.settings)
            for poll_s in POLL_INTERVALS_S:
                latencies = await _latencies(runtime, anvil, chain, poll_s)
                median = statistics.median(latencies)
                lines.append(
                    f"mined block → credit committed, poll {poll_s * 1000:.0f} ms: median "
                    f"{median * 1000:.0f} ms over {RUNS} runs (min {min(latencies) * 1000:.0f},"
                    f" max {max(latencies) * 1000:.0f}) = {median / poll_s:.2f} x the poll interval"
                )
        await chain.aclose()
        return lines
    finally:
        anvil.stop()
