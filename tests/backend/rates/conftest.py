"""Rates fixtures: a runtime with settings tuned per test (short TTLs, small breakers) and a
clock the test moves, so TTLs and cooldowns pass without waiting for them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from backend.clock import SettableClock
from backend.runtime import Runtime

Tune = Callable[..., Runtime]


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def tune(runtime: Runtime, clock: SettableClock) -> Tune:
    """`tune(rates_cache_ttl_s=1)`: the test's runtime (same Redis, DB and HTTP client)
    with some settings changed, as another deployment would configure them, reading the
    time from `clock`."""

    def tuned(**fields: Any) -> Runtime:
        settings = runtime.settings.model_copy(update=fields)
        return dataclasses.replace(runtime, settings=settings, clock=clock)

    return tuned
