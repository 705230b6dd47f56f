"""Keeping a stand-in's chain across `make run` restarts, in its QPEAPAY_SANDBOX_DIR.

Invariants: the state is written whole at shutdown (a temporary file, then an atomic
rename), so a crash leaves the previous copy, never half of one; a copy that cannot be read
(written by an older version of the stand-in) is set aside and the chain starts afresh.
Only the dev factories keep state: tests always start from genesis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from backend.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")
Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[None]]


def state_file(name: str) -> Path | None:
    directory = os.environ.get("QPEAPAY_SANDBOX_DIR")
    return Path(directory) / f"{name}.pickle" if directory else None


def load(path: Path, put: Callable[[T], None]) -> None:
    if not path.exists():
        return
    try:
        # Our own file, written by save() below for this stand-in: not untrusted input.
        put(pickle.loads(path.read_bytes()))  # noqa: S301 - our own file, written by save()
    except Exception as exc:  # an older version's format: keep it aside and start afresh
        path.replace(path.with_suffix(".unreadable"))
        log.warning("sandbox.state_unreadable", path=str(path), error=type(exc).__name__)


def save(path: Path, get: Callable[[], T]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(pickle.dumps(get()))
    temporary.replace(path)


def keeping(path: Path | None, get: Callable[[], T], put: Callable[[T], None]) -> Lifespan:
    """A lifespan that loads the state from `path` at startup and saves it at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if path is not None:
            await asyncio.to_thread(load, path, put)
        yield
        if path is not None:
            await asyncio.to_thread(save, path, get)

    return lifespan
