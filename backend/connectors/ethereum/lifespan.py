"""Process wiring: one EthereumConnector per process in `runtime.extras`, probed by /readyz.

Without ETHEREUM_USDT_CONTRACT there is no Ethereum in this deployment and nothing opens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.connectors.ethereum.client import EthereumConnector
from backend.errors import ServiceUnavailable
from backend.runtime import Runtime

EXTRA = "ethereum"


@asynccontextmanager
async def open_connector(runtime: Runtime) -> AsyncIterator[None]:
    if not runtime.settings.ethereum_usdt_contract:
        yield
        return
    connector = EthereumConnector.from_settings(runtime.settings)
    runtime.extras[EXTRA] = connector
    runtime.extras.setdefault("readiness", {})[EXTRA] = connector.ready
    try:
        yield
    finally:
        await connector.aclose()


def connector(runtime: Runtime) -> EthereumConnector:
    """The process's Ethereum connector (opened by `open_connector` at start-up)."""
    found = runtime.extras.get(EXTRA)
    if not isinstance(found, EthereumConnector):
        raise ServiceUnavailable("Ethereum is not enabled on this deployment.")
    return found
