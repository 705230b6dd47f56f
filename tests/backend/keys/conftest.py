"""Keys fixtures: a deployment seed from a known mnemonic, and the Bitcoin and Tron stand-ins
with their real connectors (the same fixtures the connector tests use)."""

from __future__ import annotations

import pytest

from backend.db import unit_of_work
from backend.keys import signer
from backend.runtime import Runtime
from backend.settings import Settings
from tests.backend.connectors.bitcoin.conftest import bitcoin, bitcoind
from tests.backend.connectors.tron.conftest import tron, trond

__all__ = ["bitcoin", "bitcoind", "seeded", "tron", "trond"]

ABANDON = "abandon " * 11 + "about"


@pytest.fixture
async def seeded(runtime: Runtime, settings: Settings) -> Runtime:
    """The runtime on an emptied database holding the seed of ABANDON (regtest)."""
    async with unit_of_work(runtime.sessionmaker) as session:
        await signer.create_seed(session, settings, mnemonic=ABANDON)
    return runtime
