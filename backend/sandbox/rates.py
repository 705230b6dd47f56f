"""Rate-feed stand-in: CoinGecko, Binance, Kraken, Coinbase and open.er-api at their real
paths and response shapes, each under its own prefix (`/coingecko/api/v3/simple/price`),
so the real provider clients run against it with nothing but a base URL changed.

Control API under `/_sim`: set the market (`POST /_sim/prices`), make one provider fail
(HTTP 5xx), hang (timeout), answer garbage, lag (`delay_ms`), disagree (price override or
offset) or go stale (keep answering a frozen value and an old timestamp); `GET /_sim`
shows the state and how often each provider was asked. All state is in memory.

Invariants: numbers leave in each API's own style (strings for Binance, Kraken and
Coinbase; bare JSON numbers for CoinGecko and open.er-api), never through a float.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contract import wire

PROVIDERS = ("coingecko", "binance", "kraken", "coinbase", "coinbase_fx", "open_er_api")
MODES = ("ok", "error", "timeout", "malformed", "stale")
PAIRS = ("BTC/USD", "USDT/USD", "ETH/USD", "TRX/USD", "USD/KES")

DEFAULT_MARKET: dict[str, Decimal] = {
    "BTC/USD": Decimal("67000.00"),
    "USDT/USD": Decimal("1.0002"),
    "ETH/USD": Decimal("3500.00"),
    "TRX/USD": Decimal("0.1200"),
    "USD/KES": Decimal("129.25"),
}
# Each source sits a little off the others, as real feeds do, so the median is visible.
DEFAULT_OFFSET_BPS = {
    "coingecko": 0, "binance": 2, "kraken": -3, "coinbase": 1, "coinbase_fx": -4,
    "open_er_api": 3,
}  # fmt: skip  # a lookup table, several entries a line
# In "ok" mode prices drift by up to this many basis points, so nothing looks frozen.
WIGGLE_BPS = Decimal(5)
HANG_S = 3600.0

COINGECKO_IDS = {"bitcoin": "BTC", "tether": "USDT", "ethereum": "ETH", "tron": "TRX"}
BINANCE_SYMBOLS = {"BTCUSDT": "BTC", "ETHUSDT": "ETH", "TRXUSDT": "TRX"}
# What Kraken accepts in `pair=` → the key it answers under, and our asset.
KRAKEN_PAIRS = {
    "XBTUSD": ("XXBTZUSD", "BTC"), "XXBTZUSD": ("XXBTZUSD", "BTC"),
    "USDTUSD": ("USDTZUSD", "USDT"), "USDTZUSD": ("USDTZUSD", "USDT"),
    "ETHUSD": ("XETHZUSD", "ETH"), "XETHZUSD": ("XETHZUSD", "ETH"),
    "TRXUSD": ("TRXUSD", "TRX"),
}  # fmt: skip  # a lookup table, several entries a line
COINBASE_SPOT = ("BTC", "USDT", "ETH")


@dataclass
class Feed:
    """One provider's behaviour."""

    mode: str = "ok"
    status: int = 503
    delay_ms: int = 0
    offset_bps: int = 0
    overrides: dict[str, Decimal] = field(default_factory=dict)
    # While stale: the values and timestamp it keeps answering.
    frozen: dict[str, Decimal] | None = None
    frozen_at_s: int = 0
    hits: int = 0


@dataclass
class Market:
    prices: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_MARKET))
    wiggle: bool = True
    feeds: dict[str, Feed] = field(
        default_factory=lambda: {
            name: Feed(offset_bps=DEFAULT_OFFSET_BPS[name]) for name in PROVIDERS
        }
    )

    def live(self, provider: str, pair: str) -> Decimal:
        feed = self.feeds[provider]
        if pair in feed.overrides:
            return feed.overrides[pair]
        value = self.prices[pair] * (1 + Decimal(feed.offset_bps) / 10_000)
        if self.wiggle:
            phase = PROVIDERS.index(provider) + PAIRS.index(pair) / 3
            drift = Decimal(str(round(math.sin(time.time() / 7 + phase), 6))) * WIGGLE_BPS
            value *= 1 + drift / 10_000
        return value

    def value(self, provider: str, pair: str) -> Decimal:
        feed = self.feeds[provider]
        if feed.frozen is not None and pair in feed.frozen:
            return feed.frozen[pair]
        return self.live(provider, pair)

    def reported_at(self, provider: str, lag_s: float = 0.0) -> int:
        feed = self.feeds[provider]
        return int(feed.frozen_at_s if feed.frozen is not None else time.time() - lag_s)


# --------------------------------------------------------------------------- JSON numbers

_NUMBER = re.compile(r'"#num:(-?[0-9.]+)"')


def _number(value: Decimal, places: int) -> str:
    return "#num:" + format(value.quantize(Decimal(1).scaleb(-places)), "f")


def _fixed(value: Decimal, places: int) -> str:
    return format(value.quantize(Decimal(1).scaleb(-places)), "f")


def _json(document: Any, status: int = 200) -> Response:
    """JSON with `_number` markers written as bare numbers (exact digits, no float)."""
    text = _NUMBER.sub(r"\1", json.dumps(document, separators=(",", ":")))
    return Response(text, status_code=status, media_type="application/json")


# ------------------------------------------------------------------------------ behaviour


async def _behave(market: Market, provider: str, request: Request) -> Response | None:
    """Apply the provider's switches; a response here replaces the real answer."""
    feed = market.feeds[provider]
    feed.hits += 1
    if feed.delay_ms:
        await asyncio.sleep(feed.delay_ms / 1000)
    if feed.mode == "timeout":
        # Hang like an overloaded API, until the client gives up (or an hour passes).
        deadline = time.monotonic() + HANG_S
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.05)
    if feed.mode == "error":
        return JSONResponse({"error": "simulated outage"}, status_code=feed.status)
    if feed.mode == "malformed":
        return Response("<html>502 Bad Gateway</html>", media_type="text/html")
    return None


def _precision(asset: str) -> int:
    return 8 if asset in ("USDT", "TRX") else 2


def create_app() -> Starlette:
    market = Market()

    async def coingecko(request: Request) -> Response:
        if (early := await _behave(market, "coingecko", request)) is not None:
            return early
        ids = [part.strip() for part in request.query_params.get("ids", "").split(",")]
        currencies = request.query_params.get("vs_currencies", "usd").lower().split(",")
        with_time = request.query_params.get("include_last_updated_at") == "true"
        body: dict[str, Any] = {}
        for coin in ids:
            asset = COINGECKO_IDS.get(coin)
            if asset is None:
                continue
            usd = market.value("coingecko", f"{asset}/USD")
            entry: dict[str, Any] = {}
            if "usd" in currencies:
                entry["usd"] = _number(usd, 8)
            if "kes" in currencies:
                entry["kes"] = _number(usd * market.value("coingecko", "USD/KES"), 8)
            if with_time:
                # CoinGecko's cache lags the market by up to a minute.
                entry["last_updated_at"] = market.reported_at("coingecko", lag_s=20)
            body[coin] = entry
        return _json(body)

    async def binance(request: Request) -> Response:
        if (early := await _behave(market, "binance", request)) is not None:
            return early
        single = request.query_params.get("symbol")
        try:
            wanted = [single] if single else wire.loads(request.query_params.get("symbols", "[]"))
        except ValueError:
            message = "Illegal characters found in parameter 'symbols'."
            return JSONResponse({"code": -1100, "msg": message}, status_code=400)
        answer = []
        for symbol in wanted:
            asset = BINANCE_SYMBOLS.get(str(symbol))
            if asset is None:
                return JSONResponse({"code": -1121, "msg": "Invalid symbol."}, status_code=400)
            usdt = market.value("binance", "USDT/USD")
            price = market.value("binance", f"{asset}/USD") / usdt
            answer.append({"symbol": symbol, "price": _fixed(price, 8)})
        return JSONResponse(answer[0] if single else answer)

    async def kraken(request: Request) -> Response:
        if (early := await _behave(market, "kraken", request)) is not None:
            return early
        result: dict[str, Any] = {}
        for name in request.query_params.get("pair", "").split(","):
            known = KRAKEN_PAIRS.get(name.strip().upper())
            if known is None:
                return JSONResponse({"error": ["EQuery:Unknown asset pair"]})
            key, asset = known
            last = market.value("kraken", f"{asset}/USD")
            places = 5 if asset in ("BTC", "ETH") else 8
            spread = last * Decimal("0.0001")
            result[key] = {
                "a": [_fixed(last + spread, places), "1", "1.000"],
                "b": [_fixed(last - spread, places), "2", "2.000"],
                "c": [_fixed(last, places), "0.01000000"],
                "v": ["1234.56789012", "2345.67890123"],
                "p": [_fixed(last, places), _fixed(last, places)],
                "t": [21000, 42000],
                "l": [_fixed(last * Decimal(f), places) for f in ("0.98", "0.97")],
                "h": [_fixed(last * Decimal(f), places) for f in ("1.02", "1.03")],
                "o": _fixed(last * Decimal("0.99"), places),
            }
        return JSONResponse({"error": [], "result": result})

    async def coinbase_spot(request: Request) -> Response:
        if (early := await _behave(market, "coinbase", request)) is not None:
            return early
        base, _, quote = request.path_params["pair"].upper().partition("-")
        if base not in COINBASE_SPOT or quote != "USD":
            return JSONResponse(
                {"errors": [{"id": "not_found", "message": "Invalid currency"}]}, status_code=404
            )
        amount = market.value("coinbase", f"{base}/USD")
        return JSONResponse(
            {"data": {"amount": _fixed(amount, _precision(base)), "base": base, "currency": "USD"}}
        )

    async def coinbase_rates(request: Request) -> Response:
        if (early := await _behave(market, "coinbase_fx", request)) is not None:
            return early
        if request.query_params.get("currency", "USD").upper() != "USD":
            return JSONResponse(
                {"errors": [{"id": "invalid_request", "message": "Invalid currency"}]},
                status_code=400,
            )
        kes = market.value("coinbase_fx", "USD/KES")
        return JSONResponse(
            {"data": {"currency": "USD", "rates": {"KES": _fixed(kes, 6), "USD": "1.0"}}}
        )

    async def open_er_api(request: Request) -> Response:
        if (early := await _behave(market, "open_er_api", request)) is not None:
            return early
        if request.path_params["base"].upper() != "USD":
            return _json({"result": "error", "error-type": "unsupported-code"})
        # The free feed publishes once a day, just after midnight UTC.
        feed = market.feeds["open_er_api"]
        if feed.frozen is not None:
            updated = int(feed.frozen_at_s)
        else:
            updated = int(time.time()) // 86_400 * 86_400 + 1
        return _json(
            {
                "result": "success",
                "provider": "https://www.exchangerate-api.com",
                "documentation": "https://www.exchangerate-api.com/docs/free",
                "terms_of_use": "https://www.exchangerate-api.com/terms",
                "time_last_update_unix": updated,
                "time_last_update_utc": _http_date(updated),
                "time_next_update_unix": updated + 86_400,
                "time_next_update_utc": _http_date(updated + 86_400),
                "time_eol_unix": 0,
                "base_code": "USD",
                "rates": {"USD": 1, "KES": _number(market.value("open_er_api", "USD/KES"), 4)},
            }
        )

    # ---------------------------------------------------------------------------- /_sim

    def state() -> dict[str, Any]:
        return {
            "prices": {pair: format(value, "f") for pair, value in market.prices.items()},
            "wiggle": market.wiggle,
            "providers": {
                name: {
                    "mode": feed.mode,
                    "status": feed.status,
                    "delay_ms": feed.delay_ms,
                    "offset_bps": feed.offset_bps,
                    "overrides": {p: format(v, "f") for p, v in feed.overrides.items()},
                    "hits": feed.hits,
                }
                for name, feed in market.feeds.items()
            },
        }

    async def sim_state(request: Request) -> Response:
        return JSONResponse(state())

    async def sim_reset(request: Request) -> Response:
        body = await _body(request)
        fresh = Market(wiggle=bool(body.get("wiggle", True)))
        market.prices, market.wiggle, market.feeds = fresh.prices, fresh.wiggle, fresh.feeds
        return JSONResponse(state())

    async def sim_prices(request: Request) -> Response:
        body = await _body(request)
        try:
            updates = {pair: _price(value) for pair, value in body.items() if pair != "wiggle"}
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        unknown = sorted(set(updates) - set(PAIRS))
        if unknown:
            return JSONResponse({"error": f"unknown pairs {unknown}"}, status_code=400)
        market.prices.update(updates)
        if "wiggle" in body:
            market.wiggle = bool(body["wiggle"])
        return JSONResponse(state())

    async def sim_provider(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in market.feeds:
            return JSONResponse({"error": f"unknown provider {name}"}, status_code=404)
        feed = market.feeds[name]
        body = await _body(request)
        mode = body.get("mode", feed.mode)
        if mode not in MODES:
            return JSONResponse({"error": f"mode is one of {MODES}"}, status_code=400)
        try:
            overrides = {pair: _price(v) for pair, v in body.get("prices", {}).items()}
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        feed.status = int(body.get("status", feed.status))
        feed.delay_ms = int(body.get("delay_ms", feed.delay_ms))
        feed.offset_bps = int(body.get("offset_bps", feed.offset_bps))
        if "prices" in body:
            feed.overrides = overrides
        if mode == "stale" and feed.frozen is None:
            # Freeze what it shows now; its own clock stops `stale_by_s` in the past.
            feed.frozen = {pair: market.live(name, pair) for pair in PAIRS}
            feed.frozen_at_s = int(time.time()) - int(body.get("stale_by_s", 0))
        elif mode != "stale":
            feed.frozen = None
        feed.mode = mode
        return JSONResponse(state())

    return Starlette(
        routes=[
            Route("/coingecko/api/v3/simple/price", coingecko),
            Route("/binance/api/v3/ticker/price", binance),
            Route("/kraken/0/public/Ticker", kraken),
            Route("/coinbase/v2/prices/{pair}/spot", coinbase_spot),
            Route("/coinbase/v2/exchange-rates", coinbase_rates),
            Route("/open_er_api/v6/latest/{base}", open_er_api),
            Route("/_sim", sim_state),
            Route("/_sim/reset", sim_reset, methods=["POST"]),
            Route("/_sim/prices", sim_prices, methods=["POST"]),
            Route("/_sim/providers/{name}", sim_provider, methods=["POST"]),
        ],
        exception_handlers={BadControlBody: _bad_body},
    )


class BadControlBody(Exception):
    """A `/_sim` request whose body is not a JSON object."""


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = wire.loads(raw)
    except ValueError as exc:
        raise BadControlBody(str(exc)) from exc
    return data if isinstance(data, dict) else {}


async def _bad_body(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"the body is not JSON: {exc}"}, status_code=400)


def _price(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError("prices are strings, not floats")
    parsed = Decimal(str(value))
    if not parsed.is_finite() or parsed <= 0:
        raise ValueError(f"{value!r} is not a positive price")
    return parsed


def _http_date(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
