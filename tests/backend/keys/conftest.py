"""Keys fixtures: a deployment seed from a known mnemonic, and the Bitcoin and Tron stand-ins
with their real connectors (the same fixtures the connector tests use)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.db import unit_of_work
from backend.keys import signer
from backend.runtime import Runtime
from backend.settings import Settings
from tests.backend.connectors.bitcoin.conftest import bitcoin, bitcoind
from tests.backend.connectors.tron.conftest import tron, trond

__all__ = ["bitcoin", "bitcoind", "keys_cli", "seeded", "tron", "trond"]

ABANDON = "abandon " * 11 + "about"
ROOT = Path(__file__).resolve().parents[3]


def keys_cli(
    settings: Settings, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m backend.keys …` as an operator runs it, without a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "backend.keys", *args],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "KEYS_PASSPHRASE"},
            "DATABASE_URL": settings.database_url,
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "DEBUG",
            "KEYS_SECRET": settings.keys_secret.get_secret_value(),
            **env,
        },
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
async def seeded(runtime: Runtime, settings: Settings) -> Runtime:
    """The runtime on an emptied database holding the seed of ABANDON (regtest)."""
    async with unit_of_work(runtime.sessionmaker) as session:
        await signer.create_seed(session, settings, mnemonic=ABANDON)
    return runtime
