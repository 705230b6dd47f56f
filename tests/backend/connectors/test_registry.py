"""The process opens one connector per network it runs: Ethereum's only where USDT is
configured (and /readyz probes it), Bitcoin's and Tron's always, in typed slots."""

from __future__ import annotations

import pytest

from backend.connectors.bitcoin import BitcoinConnector
from backend.connectors.tron import TronConnector
from backend.errors import ServiceUnavailable
from backend.runtime import open_runtime
from backend.sandbox.anvil import Anvil, free_port
from backend.settings import Settings
from backend.system.service import readiness
from contract.money import Network


async def test_readiness_shows_the_node_up_then_down(
    settings: Settings, anvil: Anvil, usdt: str
) -> None:
    up = settings.model_copy(
        update={"ethereum_rpc_url": anvil.rpc_url, "ethereum_usdt_contract": usdt}
    )
    async with open_runtime(up) as runtime:
        assert runtime.chains.require_ethereum().usdt == usdt
        assert runtime.chains.require(Network.ethereum) is runtime.chains.ethereum
        assert (await readiness(runtime))["ethereum"] == "ok"
    down = up.model_copy(update={"ethereum_rpc_url": f"http://127.0.0.1:{free_port()}"})
    async with open_runtime(down) as runtime:
        assert (await readiness(runtime))["ethereum"] == "down: NodeUnavailable"


async def test_without_a_usdt_contract_there_is_no_ethereum(settings: Settings) -> None:
    off = settings.model_copy(update={"ethereum_usdt_contract": ""})
    async with open_runtime(off) as runtime:
        assert "ethereum" not in await readiness(runtime)
        assert runtime.chains.get(Network.ethereum) is None
        with pytest.raises(ServiceUnavailable):
            runtime.chains.require_ethereum()
        with pytest.raises(ServiceUnavailable):
            runtime.chains.require(Network.ethereum)
        assert isinstance(runtime.chains.require_bitcoin(), BitcoinConnector)
        assert isinstance(runtime.chains.require(Network.tron), TronConnector)
