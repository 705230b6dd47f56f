"""Ledger fixtures: `books` drives the service on an emptied database."""

from __future__ import annotations

import pytest

from backend.runtime import Runtime
from tests.backend.ledger.books import Books


@pytest.fixture
async def books(runtime: Runtime) -> Books:
    return Books(runtime)
