"""Serve an ASGI app (a stand-in) with uvicorn on a loopback port, in a background thread.

Real HTTP on a real socket, so the real clients (python-bitcoinrpc, tronpy/httpx) run
unchanged. `stop()` and `start()` keep the port, so a client sees an outage exactly as a
dead node: connection refused, then the same URL answering again.
"""

from __future__ import annotations

import socket
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
    def __init__(self, app: Any, *, lifespan: str = "off") -> None:
        self.app, self.lifespan = app, lifespan
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
            self.app, log_level="warning", access_log=False, lifespan=self.lifespan, http="h11"
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
