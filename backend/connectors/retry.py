"""Retries for node calls: transient failures tried again with capped, jittered exponential backoff.

Invariants: only a `Transient` failure is retried (a node's answer that is an error is final
the first time); at most `attempts` tries; the waits double from `backoff_s` up to
`max_backoff_s`, each jittered ±25% so many workers do not retry in step; every retry and the
final give-up are logged as `<network>.rpc_retry` / `<network>.node_unavailable`; once the
attempts run out the failure's `final` ChainError is raised, chained to what caused it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from backend.connectors.chain import ChainError
from backend.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")


class Transient(Exception):
    """A failure worth another attempt; carries what to raise once attempts run out."""

    def __init__(self, final: ChainError, error: str | None = None) -> None:
        super().__init__(final.message)
        self.final = final
        self.error = error or final.code  # what the logs call it


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    *,
    network: str,
    method: str,
    attempts: int,
    backoff_s: float,
    max_backoff_s: float,
) -> T:
    """Await `attempt()` until it returns, raises anything but `Transient`, or runs out."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    delay = backoff_s
    for number in range(1, attempts + 1):
        try:
            return await attempt()
        except Transient as exc:
            failure = exc
        if number < attempts:
            log.warning(f"{network}.rpc_retry", method=method, attempt=number, error=failure.error)
            await asyncio.sleep(delay * (0.75 + random.random() / 2))  # noqa: S311 - jitter for retries, not a secret
            delay = min(delay * 2, max_backoff_s)
    log.warning(f"{network}.node_unavailable", method=method, error=failure.error)
    raise failure.final from failure.__cause__
