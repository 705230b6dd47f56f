"""The process opens one Ethereum connector when USDT is configured, and /readyz probes it."""

from __future__ import annotations

import pytest

from backend.connectors.ethereum import lifespan
from backend.errors import ServiceUnavailable
from backend.runtime import open_runtime
from backend.sandbox.anvil import Anvil, free_port
from backend.settings import Settings
from backend.system.service import readiness


async def test_readiness_shows_the_node_up_then_down(
    settings: Settings, anvil: Anvil, usdt: str
) -> None:
    up = settings.model_copy(
        update={"ethereum_rpc_url": anvil.rpc_url, "ethereum_usdt_contract": usdt}
    )
    async with open_runtime(up, [lifespan.open_connector]) as runtime:
        assert lifespan.connector(runtime).usdt == usdt
        assert (await readiness(runtime))["ethereum"] == "ok"
    down = up.model_copy(update={"ethereum_rpc_url": f"http://127.0.0.1:{free_port()}"})
    async with open_runtime(down, [lifespan.open_connector]) as runtime:
        assert (await readiness(runtime))["ethereum"] == "down: NodeUnavailable"


async def test_without_a_usdt_contract_there_is_no_ethereum(settings: Settings) -> None:
    off = settings.model_copy(update={"ethereum_usdt_contract": ""})
    async with open_runtime(off, [lifespan.open_connector]) as runtime:
        assert "ethereum" not in await readiness(runtime)
        with pytest.raises(ServiceUnavailable):
            lifespan.connector(runtime)
