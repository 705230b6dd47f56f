"""Child processes of the dev stack: started in their own process group with their output
labelled on one console, stopped as a whole group so no helper outlives them."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from backend.dev.embedded import free_port

STOP_TIMEOUT_S = 10.0
_LINE_LIMIT = 1 << 20
_PR_SET_PDEATHSIG = 1


class Console:
    """Interleaves every process's output on one stream, each line labelled by its source."""

    COLOURS = (36, 35, 33, 32, 34, 31, 96, 95, 93, 92)
    WIDTH = 8

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.colour = stream.isatty()
        self.labels: dict[str, str] = {}

    def label(self, name: str) -> str:
        if name not in self.labels:
            text = f"{name:<{self.WIDTH}}|"
            if self.colour:
                code = self.COLOURS[len(self.labels) % len(self.COLOURS)]
                text = f"\x1b[{code}m{text}\x1b[0m"
            self.labels[name] = text
        return self.labels[name]

    def line(self, name: str, text: str) -> None:
        self.stream.write(f"{self.label(name)} {text.rstrip()}\n")
        self.stream.flush()

    def plain(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def say(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.line("stack", line)


@dataclass
class Child:
    """A process started in its own process group, with its output pumped to the console."""

    name: str
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None]

    async def stop(self) -> None:
        """SIGTERM the group, SIGKILL what is left after STOP_TIMEOUT_S; returns when all
        of the group is gone and its output is drained."""
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            await self.process.wait()
        await _group_gone(group)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.pump, STOP_TIMEOUT_S)


async def start_child(
    name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path, console: Console
) -> Child:
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # Own group: Ctrl-C reaches only the stack, which then stops children in order.
        start_new_session=True,
        preexec_fn=_die_with_parent,
        limit=_LINE_LIMIT,
    )
    if process.stdout is None:
        raise RuntimeError(f"{name} was started without a stdout pipe")
    return Child(name, process, asyncio.create_task(_pump(name, process.stdout, console)))


def _die_with_parent() -> None:
    """Runs in the forked child: if the stack is killed outright, its processes go too."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _group_gone(group: int) -> None:
    """Wait until no process is left in `group` (helpers a leader may have started)."""
    deadline = asyncio.get_running_loop().time() + STOP_TIMEOUT_S
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        if asyncio.get_running_loop().time() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            return
        await asyncio.sleep(0.05)


async def _pump(name: str, stream: asyncio.StreamReader, console: Console) -> None:
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line over the limit; the reader has dropped it, keep reading
            console.line(name, f"[a line over {_LINE_LIMIT} bytes was cut]")
            continue
        if not line:
            return
        console.line(name, line.decode(errors="replace"))


def pick_port(preferred: int) -> int:
    """`preferred` if it is free on loopback (0 means any), else a free one."""
    if preferred:
        with socket.socket() as sock:
            # Same option uvicorn binds with, so a port in TIME_WAIT after a restart counts as free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", preferred))
            except OSError:
                pass
            else:
                return preferred
    return free_port()


async def answers_ok(url: str) -> None:
    """Poll until GET `url` is 200; the caller bounds the wait."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)


async def listens(port: int) -> None:
    """Poll until something accepts connections on loopback `port`; the caller bounds it."""
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
        else:
            writer.close()
            return
