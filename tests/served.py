"""Serve an ASGI app (a stand-in) with uvicorn on a loopback port, in a background thread.

Real HTTP on a real socket, so the real clients (python-bitcoinrpc, tronpy/httpx) run
unchanged. `stop()` and `start()` keep the port, so a client sees an outage exactly as a
dead node: connection refused, then the same URL answering again.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from typing import Any

import uvicorn


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Served:
    def __init__(self, app: Any, *, lifespan: str = "off", http: str = "h11") -> None:
        self.app, self.lifespan, self.http = app, lifespan, http
        self.port = _free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan=self.lifespan, http=self.http
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the stand-in did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None


class Spawned:
    """An ASGI app factory served by uvicorn in its own process, as a real node would be: its
    work then competes with ours for CPU only, never for this interpreter's GIL."""

    def __init__(self, factory: str) -> None:
        self.port = _free_port()
        command = [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        self._process = subprocess.Popen(command)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{factory} did not start") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
