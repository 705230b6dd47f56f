"""Fixtures for the events tests: a Redis server of our own that a test may stop and start
again on the same port, and a runtime on it."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backend.dev.embedded import free_port, start_redis
from backend.runtime import Runtime, open_runtime
from backend.settings import Settings


@dataclass
class RedisServer:
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        _, self.process = start_redis(self.data_dir, self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def own_runtime(
    settings: Settings, runtime: Runtime, redis_server: RedisServer
) -> AsyncIterator[Runtime]:
    """A runtime on the test database (emptied by `runtime`) and on `redis_server`."""
    async with open_runtime(settings.model_copy(update={"redis_url": redis_server.url})) as rt:
        yield rt
