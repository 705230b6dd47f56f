"""`make run`: the whole product on one machine, started in order and stopped in reverse.

Starts PostgreSQL and Redis (embedded unless DATABASE_URL / REDIS_URL are set), migrates,
starts anvil and every stand-in in backend/sandbox/registry.py, seeds demo data, then the
Procfile's api, web and worker; prints the URLs and logins and writes them to
`<var>/dev/stack.json` (var is QPEAPAY_VAR_DIR, default ./var). On Ctrl-C or SIGTERM, or
when any process dies, it stops the app processes, then the stand-ins, anvil, Redis and
PostgreSQL. Data stays in `<var>/dev`; stack.json exists only while the stack runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import traceback
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from alembic.util import CommandError
from dotenv import dotenv_values
from sqlalchemy.engine import make_url

from backend.dev import embedded
from backend.dev.database import ROOT, ensure_database, migrate, normalise, with_database
from backend.dev.processes import (
    STOP_TIMEOUT_S,
    Child,
    Console,
    answers_ok,
    listens,
    pick_port,
    start_child,
)
from backend.sandbox.anvil import AnvilError, anvil_command
from backend.sandbox.registry import STAND_INS, StandIn

APP_DATABASE = "qpeapay"
CHAIN_ID = 31337
READY_TIMEOUT_S = 60.0
APP_PROCESSES = ("api", "web", "worker")
BANNER_URLS = ("rpc", "api", "sim")
T = TypeVar("T")


class StackError(Exception):
    """A part of the stack failed to start or died; the message says which."""


def var_dir() -> Path:
    return Path(os.environ.get("QPEAPAY_VAR_DIR") or ROOT / "var").resolve()


def load_dotenv(path: Path) -> None:
    """Variables from `.env` count as set, so a DATABASE_URL there skips the embedded one."""
    if path.is_file():
        for key, value in dotenv_values(path).items():
            if value is not None:
                os.environ.setdefault(key, value)


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            entries[name.strip()] = command.strip()
    return entries


async def answers_chain_id(rpc: str) -> None:
    """Poll until the node at `rpc` answers eth_chainId with our chain id."""
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            with contextlib.suppress(httpx.TransportError, ValueError, KeyError):
                response = await client.post(rpc, json=payload)
                if int(response.json()["result"], 16) == CHAIN_ID:
                    return
            await asyncio.sleep(0.1)


@dataclass
class Stack:
    var: Path
    console: Console
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    info: dict[str, Any] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    postgres: Any = None
    redis: subprocess.Popen[bytes] | None = None
    died: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False
    watchers: set[asyncio.Task[None]] = field(default_factory=set)
    # Blocking start-ups that create a server; stop() waits for them, so a server that
    # comes up after Ctrl-C has cancelled the start is stopped all the same.
    blocking: list[asyncio.Future[Any]] = field(default_factory=list)

    @property
    def dev(self) -> Path:
        return self.var / "dev"

    @property
    def stack_json(self) -> Path:
        return self.dev / "stack.json"

    # -- starting ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.stack_json.unlink(missing_ok=True)
        try:
            # A failure cancels the other branches, so nothing starts after stop() has run.
            async with asyncio.TaskGroup() as group:
                database_task = group.create_task(self.start_database())
                redis_task = group.create_task(self.start_redis())
                anvil_task = group.create_task(self.start_anvil())
                stand_ins_task = group.create_task(self.start_stand_ins())
        except ExceptionGroup as errors:
            raise errors.exceptions[0] from None
        database, redis_url = database_task.result(), redis_task.result()
        anvil, stand_ins = anvil_task.result(), stand_ins_task.result()
        self.info.update(postgres=database, redis=redis_url, anvil=anvil, **stand_ins)
        demo_env = await self.seed(database, {"anvil": anvil, **stand_ins})
        await self.start_apps(database, redis_url, demo_env)

    async def in_thread(self, function: Callable[[], T]) -> T:
        future = asyncio.ensure_future(asyncio.to_thread(function))
        self.blocking.append(future)
        return await asyncio.shield(future)

    async def start_database(self) -> str:
        configured = self.env.get("DATABASE_URL")
        if configured:
            url = normalise(configured)
        else:
            self.console.say(f"starting embedded PostgreSQL in {self.dev / 'pg'}")
            url = with_database(await self.in_thread(self._embedded_postgres), APP_DATABASE)
        try:
            await asyncio.to_thread(ensure_database, url)
        except OSError as error:
            shown = make_url(url).render_as_string(hide_password=True)
            raise StackError(f"cannot reach PostgreSQL at {shown}: {error}") from None
        try:
            await asyncio.to_thread(migrate, url)
        except CommandError as error:
            # Typically a database migrated by revisions this checkout has since renumbered
            # or chained differently; alembic's own words don't say what to do about it.
            fix = "set DATABASE_URL to another database" if configured else f"rm -rf {self.dev}"
            raise StackError(
                f"cannot migrate the database ({error}); its recorded migrations do not fit "
                f"this checkout's. To start over with fresh demo data: {fix}"
            ) from None
        self.console.say("database migrated")
        return url

    async def start_redis(self) -> str:
        configured = self.env.get("REDIS_URL")
        if configured:
            return configured
        return await self.in_thread(self._embedded_redis)

    def _embedded_postgres(self) -> str:
        url, self.postgres = embedded.start_postgres(self.dev / "pg")
        return url

    def _embedded_redis(self) -> str:
        url, self.redis = embedded.start_redis(self.dev / "redis")
        return url

    async def start_anvil(self) -> dict[str, Any]:
        port = pick_port(int(self.env.get("ANVIL_PORT") or 8545))
        state = self.dev / "anvil"
        state.mkdir(parents=True, exist_ok=True)
        try:
            command = anvil_command()
        except AnvilError as exc:
            raise StackError(str(exc)) from exc
        await self.spawn(
            "anvil",
            [
                *command,
                "--host=127.0.0.1",
                f"--port={port}",
                f"--chain-id={CHAIN_ID}",
                # Loaded at start, dumped on exit and every 10 s, so even a killed stack
                # keeps a chain that matches what the database remembers of it.
                f"--state={state / 'state.json'}",
                "--state-interval=10",
                "--quiet",
            ],
            self.env,
        )
        rpc = f"http://127.0.0.1:{port}"
        await self.until_ready(f"anvil at {rpc}", answers_chain_id(rpc))
        # Imported here, like the seed: web3 is heavy. TestUSDT lands at the same CREATE2
        # address on every start (found, not redeployed, on a kept chain); dev account 0
        # holds the minted USDT and plays the paying customer.
        from backend.sandbox.anvil import DEV_ACCOUNT, DEV_ACCOUNT_KEY
        from backend.sandbox.ethereum import deploy_test_usdt

        usdt = await deploy_test_usdt(rpc, DEV_ACCOUNT_KEY)
        return {
            "rpc": rpc,
            "chain_id": CHAIN_ID,
            "usdt": usdt,
            "payer": DEV_ACCOUNT,
            "payer_private_key": DEV_ACCOUNT_KEY,
        }

    async def start_stand_ins(self) -> dict[str, dict[str, str]]:
        started = await asyncio.gather(*(self.start_stand_in(entry) for entry in STAND_INS))
        return dict(started)

    async def start_stand_in(self, entry: StandIn) -> tuple[str, dict[str, str]]:
        port = embedded.free_port()
        data = self.dev / "sandbox" / entry.name
        data.mkdir(parents=True, exist_ok=True)
        await self.spawn(
            entry.name,
            [
                *(sys.executable, "-m", "uvicorn", entry.app, "--factory"),
                *("--host=127.0.0.1", f"--port={port}", "--log-level=warning"),
            ],
            {**self.env, "QPEAPAY_SANDBOX_DIR": str(data)},
        )
        base = f"http://127.0.0.1:{port}"
        await self.until_ready(f"{entry.name} on port {port}", listens(port))
        self.env.update(entry.environment(base))
        return entry.name, entry.resolve(base)

    async def seed(self, database: str, services: dict[str, Any]) -> dict[str, str]:
        # Imported here: it pulls in every domain's models, which the stack needs only now.
        from backend.db import create_engine, create_sessionmaker
        from backend.dev.seed import seed

        engine = create_engine(database, pool_size=2)
        try:
            demo = await seed(create_sessionmaker(engine), services=services)
        finally:
            await engine.dispose()
        for service, extra in demo.exports.items():
            self.info.setdefault(service, {}).update(extra)
        self.info["logins"] = {role: _login_info(login) for role, login in demo.logins.items()}
        return demo.env

    async def start_apps(self, database: str, redis_url: str, extra: dict[str, str]) -> None:
        api_port = pick_port(int(self.env.get("API_PORT") or 8000))
        web_port = pick_port(int(self.env.get("WEB_PORT") or 8001))
        api, web = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{web_port}"
        venv_bin = str(Path(sys.executable).parent)
        env = {
            **self.env,
            "ENVIRONMENT": self.env.get("ENVIRONMENT", "dev"),
            "LOG_JSON": self.env.get("LOG_JSON", "false"),
            # The dev outbox page shows the codes we "sent"; only ever on in dev and test.
            "DEV_OUTBOX_ENABLED": self.env.get("DEV_OUTBOX_ENABLED", "true"),
            **extra,
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "API_PORT": str(api_port),
            "WEB_PORT": str(web_port),
            "API_URL": api,
            "PUBLIC_API_URL": _public(self.env.get("PUBLIC_API_URL"), api),
            "PUBLIC_WEB_URL": _public(self.env.get("PUBLIC_WEB_URL"), web),
            "ETHEREUM_RPC_URL": self.info["anvil"]["rpc"],
            "ETHEREUM_USDT_CONTRACT": self.info["anvil"]["usdt"],
            "ETHEREUM_CHAIN_ID": str(CHAIN_ID),
            "PATH": venv_bin + os.pathsep + self.env.get("PATH", ""),
            "PYTHONUNBUFFERED": "1",
        }
        commands = procfile()
        for name in APP_PROCESSES:
            if name == "worker" and not (ROOT / "workers" / "main.py").exists():
                self.console.say("worker skipped: there is no workers/main.py")
                continue
            await self.spawn(name, ["sh", "-c", "exec " + commands[name]], env)
        await self.until_ready(
            "api and web",
            asyncio.gather(answers_ok(api + "/healthz"), answers_ok(web + "/")),
        )
        self.info.update(api=api, web=web)

    async def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        child = await start_child(name, argv, env, ROOT, self.console)
        self.children.append(child)
        watcher = asyncio.create_task(self.watch(child))
        self.watchers.add(watcher)
        watcher.add_done_callback(self.watchers.discard)

    async def watch(self, child: Child) -> None:
        code = await child.process.wait()
        if not self.stopping:
            self.console.say(f"{child.name} exited with code {code}; stopping the stack")
            self.died.set()

    async def until_ready(self, what: str, ready: Awaitable[Any]) -> None:
        """Await `ready` for at most READY_TIMEOUT_S, giving up early if a process dies."""
        ready_task = asyncio.ensure_future(ready)
        died_task = asyncio.create_task(self.died.wait())
        try:
            await asyncio.wait(
                {ready_task, died_task},
                timeout=READY_TIMEOUT_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            died_task.cancel()
        if not ready_task.done():
            ready_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ready_task
            if self.died.is_set():
                raise StackError(f"a process died while waiting for {what}")
            raise StackError(f"{what} did not answer within {READY_TIMEOUT_S:.0f}s")
        ready_task.result()

    # -- running ----------------------------------------------------------------------------

    def write_stack_json(self) -> None:
        order = ["api", "web", "logins", "anvil", "postgres", "redis"]
        document = {key: self.info[key] for key in order} | {
            key: value for key, value in self.info.items() if key not in order
        }
        partial = self.stack_json.with_suffix(".json.partial")
        partial.write_text(json.dumps(document, indent=2) + "\n")
        partial.replace(self.stack_json)

    def banner(self, ready_in: float) -> str:
        info = self.info
        rows = [
            "",
            f"Qpeapay is running (ready in {ready_in:.1f}s).",
            "",
            f"  API        {info['api']}   (OpenAPI: {info['api']}/v1/openapi.json)",
            f"  Web        {info['web']}",
            "",
            "  Logins",
            *(
                f"    {role:<9}{login['email']:<28}{login['password']}"
                + (f"   2FA secret {login['totp_secret']}" if "totp_secret" in login else "")
                for role, login in info["logins"].items()
            ),
            "",
            f"  Anvil      {info['anvil']['rpc']}   (chain id {info['anvil']['chain_id']})",
            *(
                # The main URL and the control API; the rest of its URLs are in stack.json.
                f"  {name:<11}"
                + "   ".join(f"{k} {v}" for k, v in info[name].items() if k in BANNER_URLS)
                for name in (entry.name for entry in STAND_INS)
            ),
            f"  PostgreSQL {info['postgres']}",
            f"  Redis      {info['redis']}",
            "",
            f"  All of this is in {self.stack_json}",
            "  Ctrl-C stops everything; data stays in " + str(self.dev),
            "",
        ]
        return "\n".join(rows)

    # -- stopping ---------------------------------------------------------------------------

    async def stop(self) -> None:
        self.stopping = True
        self.stack_json.unlink(missing_ok=True)
        await asyncio.gather(*self.blocking, return_exceptions=True)
        stand_in_names = {entry.name for entry in STAND_INS}
        apps = [c for c in self.children if c.name in APP_PROCESSES]
        stand_ins = [c for c in self.children if c.name in stand_in_names]
        chain = [c for c in self.children if c.name == "anvil"]
        for tier in (apps, stand_ins, chain):
            await asyncio.gather(*(child.stop() for child in tier))
        if self.redis is not None:
            await asyncio.to_thread(_stop_popen, self.redis)
        if self.postgres is not None:
            await asyncio.to_thread(_stop_postgres, self.postgres)
        self.console.say("stopped")


def _login_info(login: Any) -> dict[str, str]:
    """A demo login as stack.json shows it: with its 2FA secret and URI when it has one."""
    info = {"email": login.email, "password": login.password}
    if login.totp_secret:
        info |= {"totp_secret": login.totp_secret, "otpauth_uri": login.otpauth_uri}
    return info


def _public(configured: str | None, local: str) -> str:
    """Keep a configured public URL that points elsewhere (a tunnel for M-Pesa callbacks);
    a loopback one is replaced, because the port it names may have been busy."""
    if configured and not any(host in configured for host in ("127.0.0.1", "localhost")):
        return configured
    return local


def _stop_popen(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _stop_postgres(server: Any) -> None:
    server.cleanup()
    # pgserver leaves the server up when an earlier, killed run is still on its handle
    # list; this stack owns the data directory, so it stops the postmaster regardless.
    postmaster = server.get_postmaster_info().process
    if postmaster.is_running():
        postmaster.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown: clean, no waiting
        try:
            postmaster.wait(STOP_TIMEOUT_S)
        except Exception:  # psutil.TimeoutExpired: give up on a clean stop
            postmaster.kill()


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(f"another stack is running on {lock_path.parent}") from None
        yield


async def run(console: Console) -> int:
    stack = Stack(var=var_dir(), console=console)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started = loop.time()
    with exclusive(stack.dev / "stack.lock"):
        starting = asyncio.create_task(stack.start())
        interrupted = asyncio.create_task(stop.wait())
        code = 0
        try:
            await asyncio.wait({starting, interrupted}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                starting.result()
                stack.write_stack_json()
                # Unlabelled, so the URLs and logins stand out and copy cleanly.
                console.plain(stack.banner(ready_in=loop.time() - started))
                died = asyncio.create_task(stack.died.wait())
                await asyncio.wait({died, interrupted}, return_when=asyncio.FIRST_COMPLETED)
                code = 1 if died.done() else 0
                died.cancel()
            else:
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await starting
        except StackError as error:
            console.say(f"failed: {error}")
            code = 1
        except Exception:
            console.say("failed:\n" + traceback.format_exc())
            code = 1
        finally:
            interrupted.cancel()
            console.say("stopping")
            await stack.stop()
    return code


def main() -> None:
    # pgserver asks platformdirs for a runtime dir at import; the fallback it warns about is fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    load_dotenv(ROOT / ".env")
    console = Console(sys.stdout)
    try:
        code = asyncio.run(run(console))
    except StackError as error:
        console.say(str(error))
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
