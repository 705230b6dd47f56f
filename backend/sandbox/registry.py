"""The stand-ins `make run` serves: one entry per outside system, in start order.

Each entry is an ASGI app factory that the dev stack serves with uvicorn on a free loopback
port. From that base URL (`http://127.0.0.1:<port>`) the entry derives:

- its object in `var/dev/stack.json`, keyed by `name`, whose fields are the entry's `urls`
  (field → path joined to the base URL, e.g. `{"rpc": "/", "sim": "/_sim"}`);
- the environment of the api, web and worker processes: each `env` item names a variable
  and the `urls` field whose URL it receives (e.g. `{"BITCOIN_RPC_URL": "rpc"}`), so the
  real connector code is pointed at the stand-in with nothing but settings.

The stand-in process itself gets the stack's environment plus `QPEAPAY_SANDBOX_DIR`, a
directory under `var/dev/sandbox/<name>` kept across restarts, for any state it wants to
keep (a chain that forgets its blocks while the database remembers them is confusing).

Adding a stand-in is one entry appended to `STAND_INS`; no other file changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV = re.compile(r"^[A-Z][A-Z0-9_]*$")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class StandIn:
    """One local stand-in: what to serve, and how its URLs reach stack.json and the apps."""

    name: str
    """Key of its object in stack.json and the label on its log lines, e.g. "bitcoin"."""

    app: str
    """ASGI app factory as "module:function", called with no arguments."""

    urls: Mapping[str, str] = field(default_factory=lambda: {"api": "", "sim": "/_sim"})
    """stack.json field → path on the stand-in's base URL ("" is the base URL itself)."""

    env: Mapping[str, str] = field(default_factory=dict)
    """Environment variable for api/web/worker → the `urls` field whose URL it carries."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"stand-in name {self.name!r} must be lower_snake_case")
        if not _FACTORY.match(self.app):
            raise ValueError(f"stand-in {self.name}: app {self.app!r} is not 'module:function'")
        for variable, url_field in self.env.items():
            if not _ENV.match(variable):
                raise ValueError(f"stand-in {self.name}: {variable!r} is not an env var name")
            if url_field not in self.urls:
                raise ValueError(
                    f"stand-in {self.name}: {variable} names unknown url {url_field!r}"
                )
        for path in self.urls.values():
            if path and not path.startswith("/"):
                raise ValueError(f"stand-in {self.name}: path {path!r} must start with '/'")

    def resolve(self, base_url: str) -> dict[str, str]:
        """This stand-in's stack.json object for a server listening at `base_url`."""
        base = base_url.rstrip("/")
        return {url_field: base + path for url_field, path in self.urls.items()}

    def environment(self, base_url: str) -> dict[str, str]:
        """The variables that point the api, web and worker at this stand-in."""
        urls = self.resolve(base_url)
        return {variable: urls[url_field] for variable, url_field in self.env.items()}


STAND_INS: list[StandIn] = [
    # One server plays every public rate API, each under its own prefix at its real paths.
    StandIn(
        name="rates",
        app="backend.sandbox.rates:create_app",
        urls={
            "api": "",
            "sim": "/_sim",
            "coingecko": "/coingecko",
            "binance": "/binance",
            "kraken": "/kraken",
            "coinbase": "/coinbase",
            "open_er_api": "/open_er_api",
        },
        env={
            "RATES_COINGECKO_URL": "coingecko",
            "RATES_BINANCE_URL": "binance",
            "RATES_KRAKEN_URL": "kraken",
            "RATES_COINBASE_URL": "coinbase",
            "RATES_OPEN_ER_API_URL": "open_er_api",
        },
    ),
    # Bitcoin Core JSON-RPC (regtest, -txindex), chain kept across restarts; it reads
    # BITCOIN_RPC_USER/PASSWORD as we do.
    StandIn(
        name="bitcoin",
        app="backend.sandbox.bitcoin:create_dev_app",
        urls={"rpc": "/", "sim": "/_sim"},
        env={"BITCOIN_RPC_URL": "rpc"},
    ),
    # java-tron / TronGrid HTTP API with mainnet's USDT contract, a block every 3 s as on
    # mainnet, chain kept across restarts.
    StandIn(
        name="tron",
        app="backend.sandbox.tron:create_dev_app",
        urls={"api": "/", "sim": "/_sim"},
        env={"TRON_API_URL": "api"},
    ),
]
