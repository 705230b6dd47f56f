"""Serve an ASGI app (a stand-in, or our own API and web app) with uvicorn on a loopback
port, in a background thread; and a handle on a served stand-in's `/_sim` control API.

Real HTTP on a real socket, so the real clients (python-bitcoinrpc, tronpy/httpx, a
browser) run unchanged. `stop()` and `start()` keep the port, so a client sees an outage
exactly as a dead node: connection refused, then the same URL answering again.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import uvicorn

from backend.dev.embedded import free_port


class Served:
    def __init__(
        self, app: Any, *, lifespan: str = "off", http: str = "h11", port: int | None = None
    ) -> None:
        """`port`: one picked beforehand, for an app that must know its own URL when built."""
        self.app, self.lifespan, self.http = app, lifespan, http
        self.port = port or free_port()
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
            self.app,
            log_level="warning",
            access_log=False,
            lifespan=self.lifespan,
            http=self.http,
            proxy_headers=False,  # as the Procfile: the apps decide who the client is
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30  # the API's lifespan connects to PostgreSQL and Redis
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"nothing started on {self.url}")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None


class StandIn:
    """A stand-in served on a loopback port, and its `/_sim` control API."""

    def __init__(self, app: Any, *, sim_timeout_s: float = 30.0) -> None:
        self.served = Served(app)
        self.http = httpx.Client(base_url=self.served.url + "/_sim", timeout=sim_timeout_s)

    def _post(self, path: str, **body: Any) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def close(self) -> None:
        self.http.close()
        self.served.stop()


class Spawned:
    """An ASGI app factory served by uvicorn in its own process, as a real node would be: its
    work then competes with ours for CPU only, never for this interpreter's GIL."""

    def __init__(self, factory: str) -> None:
        self.port = free_port()
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
