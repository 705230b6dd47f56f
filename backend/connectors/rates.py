"""Public rate APIs behind one interface: each provider is a real httpx client of one API's
request and response shape, returning exact Decimal quotes (never float). `RateFeeds` is
the process's set of them, built once from settings with the HTTP pool they share.

A provider answers what it knows and raises ProviderError for anything else (HTTP error,
timeout, a body that is not the shape we expect); deciding what to trust is the
aggregator's job. JSON numbers (CoinGecko, open.er-api) are parsed straight to Decimal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from contract import wire
from contract.money import Asset, to_decimal

if TYPE_CHECKING:  # settings imports RATE_PROVIDERS from here
    from backend.settings import Settings

# The crypto assets we price; each is quoted against USD (or USDT on Binance).
CRYPTO: tuple[Asset, ...] = (Asset.BTC, Asset.USDT, Asset.ETH, Asset.TRX)

# Every provider this module speaks to, by the name settings and logs use.
RATE_PROVIDERS: tuple[str, ...] = (
    "coingecko", "binance", "kraken", "coinbase", "coinbase_fx", "open_er_api",
)  # fmt: skip  # the provider names on one line, as settings list them


@dataclass(frozen=True)
class SourceQuote:
    """One provider's price of one `base` in `quote` units, as it reported it."""

    provider: str
    base: Asset
    quote: Asset
    value: Decimal
    # The provider's own timestamp for the value, when its API reports one.
    reported_at: datetime | None = None

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"


class ProviderError(Exception):
    """A provider gave no usable answer; `reason` is short and safe to log."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason


class RateProvider(Protocol):
    name: str
    base_url: str

    async def fetch(self, http: httpx.AsyncClient, timeout_s: float) -> list[SourceQuote]: ...


def _body(provider: str, response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise ProviderError(provider, f"HTTP {response.status_code}")
    try:
        return wire.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        raise ProviderError(provider, "body is not JSON") from exc


def _price(provider: str, raw: Any, what: str) -> Decimal:
    try:
        value = to_decimal(raw)
    except ValueError as exc:
        raise ProviderError(provider, f"{what} is not a number") from exc
    if value <= 0:
        raise ProviderError(provider, f"{what} is not positive")
    return value


def _timestamp(provider: str, raw: Any) -> datetime:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ProviderError(provider, "timestamp is not an integer")
    return datetime.fromtimestamp(raw, UTC)


async def _get(
    provider: str,
    http: httpx.AsyncClient,
    url: str,
    timeout_s: float,
    params: Mapping[str, str] | None = None,
) -> Any:
    try:
        response = await http.get(
            url, params=params, timeout=timeout_s, headers={"Accept": "application/json"}
        )
    except httpx.TimeoutException as exc:
        raise ProviderError(provider, "timeout") from exc
    except httpx.HTTPError as exc:
        raise ProviderError(provider, f"transport: {type(exc).__name__}") from exc
    return _body(provider, response)


@dataclass
class CoinGecko:
    """`GET /api/v3/simple/price?ids=…&vs_currencies=usd&include_last_updated_at=true`
    → `{"bitcoin": {"usd": 67000.1, "last_updated_at": 1711356300}, …}`."""

    base_url: str
    name: str = "coingecko"

    IDS = {Asset.BTC: "bitcoin", Asset.USDT: "tether", Asset.ETH: "ethereum", Asset.TRX: "tron"}

    async def fetch(self, http: httpx.AsyncClient, timeout_s: float) -> list[SourceQuote]:
        body = await _get(
            self.name,
            http,
            f"{self.base_url}/api/v3/simple/price",
            timeout_s,
            {
                "ids": ",".join(self.IDS.values()),
                "vs_currencies": "usd",
                "include_last_updated_at": "true",
                "precision": "full",
            },
        )
        if not isinstance(body, dict):
            raise ProviderError(self.name, "body is not an object")
        quotes = []
        for asset, coin in self.IDS.items():
            entry = body.get(coin)
            if not isinstance(entry, dict) or "usd" not in entry:
                continue
            reported = entry.get("last_updated_at")
            quotes.append(
                SourceQuote(
                    self.name,
                    asset,
                    Asset.USD,
                    _price(self.name, entry["usd"], f"{coin}.usd"),
                    _timestamp(self.name, reported) if reported is not None else None,
                )
            )
        if not quotes:
            raise ProviderError(self.name, "no known coin in the answer")
        return quotes


@dataclass
class Binance:
    """`GET /api/v3/ticker/price?symbols=["BTCUSDT",…]` → `[{"symbol": "BTCUSDT",
    "price": "67000.01000000"}, …]`. Binance quotes in USDT, not USD: the aggregator
    converts through the USDT/USD median of the other sources."""

    base_url: str
    name: str = "binance"

    SYMBOLS = {"BTCUSDT": Asset.BTC, "ETHUSDT": Asset.ETH, "TRXUSDT": Asset.TRX}

    async def fetch(self, http: httpx.AsyncClient, timeout_s: float) -> list[SourceQuote]:
        body = await _get(
            self.name,
            http,
            f"{self.base_url}/api/v3/ticker/price",
            timeout_s,
            {"symbols": json.dumps(list(self.SYMBOLS), separators=(",", ":"))},
        )
        if not isinstance(body, list):
            raise ProviderError(self.name, "body is not a list")
        quotes = []
        for entry in body:
            if not isinstance(entry, dict):
                raise ProviderError(self.name, "ticker entry is not an object")
            asset = self.SYMBOLS.get(str(entry.get("symbol")))
            if asset is not None:
                price = _price(self.name, entry.get("price"), str(entry.get("symbol")))
                quotes.append(SourceQuote(self.name, asset, Asset.USDT, price))
        if not quotes:
            raise ProviderError(self.name, "no known symbol in the answer")
        return quotes


@dataclass
class Kraken:
    """`GET /0/public/Ticker?pair=XBTUSD,…` → `{"error": [], "result": {"XXBTZUSD":
    {"c": ["67000.10000", "0.0100"], …}}}`; `c[0]` is the last trade price. Kraken
    answers with its own pair names (XXBTZUSD for XBTUSD), so both spellings map."""

    base_url: str
    name: str = "kraken"

    REQUEST = ("XBTUSD", "USDTUSD", "ETHUSD", "TRXUSD")
    PAIRS = {
        "XXBTZUSD": Asset.BTC, "XBTUSD": Asset.BTC,
        "USDTZUSD": Asset.USDT, "USDTUSD": Asset.USDT,
        "XETHZUSD": Asset.ETH, "ETHUSD": Asset.ETH,
        "TRXUSD": Asset.TRX,
    }  # fmt: skip  # a lookup table, several entries a line

    async def fetch(self, http: httpx.AsyncClient, timeout_s: float) -> list[SourceQuote]:
        body = await _get(
            self.name,
            http,
            f"{self.base_url}/0/public/Ticker",
            timeout_s,
            {"pair": ",".join(self.REQUEST)},
        )
        if not isinstance(body, dict):
            raise ProviderError(self.name, "body is not an object")
        if body.get("error"):
            # Kraken reports failures in-band, e.g. ["EService:Unavailable"].
            raise ProviderError(self.name, "error: " + ",".join(map(str, body["error"]))[:80])
        result = body.get("result")
        if not isinstance(result, dict):
            raise ProviderError(self.name, "no result object")
        quotes = []
        for key, ticker in result.items():
            asset = self.PAIRS.get(key)
            if asset is None:
                continue
            last = ticker.get("c") if isinstance(ticker, dict) else None
            if not isinstance(last, list) or not last:
                raise ProviderError(self.name, f"{key} has no last trade")
            quotes.append(SourceQuote(self.name, asset, Asset.USD, _price(self.name, last[0], key)))
        if not quotes:
            raise ProviderError(self.name, "no known pair in the answer")
        return quotes


@dataclass
class Coinbase:
    """`GET /v2/prices/BTC-USD/spot` → `{"data": {"base": "BTC", "currency": "USD",
    "amount": "67000.01"}}`, one request per pair (Coinbase lists no TRX)."""

    base_url: str
    name: str = "coinbase"

    ASSETS = (Asset.BTC, Asset.USDT, Asset.ETH)

    async def _spot(self, http: httpx.AsyncClient, timeout_s: float, asset: Asset) -> SourceQuote:
        body = await _get(self.name, http, f"{self.base_url}/v2/prices/{asset}-USD/spot", timeout_s)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ProviderError(self.name, "no data object")
        if data.get("base") != str(asset) or data.get("currency") != "USD":
            raise ProviderError(self.name, f"answered for the wrong pair on {asset}-USD")
        return SourceQuote(
            self.name, asset, Asset.USD, _price(self.name, data.get("amount"), f"{asset}-USD")
        )

    async def fetch(self, http: httpx.AsyncClient, timeout_s: float) -> list[SourceQuote]:
        answers = await asyncio.gather(
            *(self._spot(http, timeout_s, asset) for asset in self.ASSETS), return_exceptions=True
        )
        quotes = [answer for answer in answers if isinstance(answer, SourceQuote)]
        if not quotes:
            failure = next(a for a in answers if isinstance(a, BaseException))
            raise failure
        return quotes


@dataclass
class CoinbaseFx:
    """`GET /v2/exchange-rates?currency=USD` → `{"data": {"currency": "USD", "rates":
    {"KES": "129.25", …}}}`: Coinbase's fiat table, a second USD/KES source."""

    base_url: str
    name: str = "coinbase_fx"

    async def fetch(self, http: httpx.AsyncClient, timeout_s: float) -> list[SourceQuote]:
        body = await _get(
            self.name, http, f"{self.base_url}/v2/exchange-rates", timeout_s, {"currency": "USD"}
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("currency") != "USD":
            raise ProviderError(self.name, "no USD data object")
        rates = data.get("rates")
        if not isinstance(rates, dict) or "KES" not in rates:
            raise ProviderError(self.name, "no KES rate")
        kes = _price(self.name, rates["KES"], "KES")
        return [SourceQuote(self.name, Asset.USD, Asset.KES, kes)]


@dataclass
class OpenExchangeRates:
    """open.er-api.com `GET /v6/latest/USD` → `{"result": "success", "base_code": "USD",
    "time_last_update_unix": 1711324801, "rates": {"KES": 129.5, …}}`. It publishes
    once a day, so its timestamp is checked against the FX bound, not the crypto one."""

    base_url: str
    name: str = "open_er_api"

    async def fetch(self, http: httpx.AsyncClient, timeout_s: float) -> list[SourceQuote]:
        body = await _get(self.name, http, f"{self.base_url}/v6/latest/USD", timeout_s)
        if not isinstance(body, dict) or body.get("result") != "success":
            kind = body.get("error-type") if isinstance(body, dict) else None
            raise ProviderError(self.name, f"result is not success ({kind})")
        if body.get("base_code") != "USD":
            raise ProviderError(self.name, "base is not USD")
        rates = body.get("rates")
        if not isinstance(rates, dict) or "KES" not in rates:
            raise ProviderError(self.name, "no KES rate")
        return [
            SourceQuote(
                self.name,
                Asset.USD,
                Asset.KES,
                _price(self.name, rates["KES"], "KES"),
                _timestamp(self.name, body.get("time_last_update_unix")),
            )
        ]


def providers(settings: Settings) -> list[RateProvider]:
    """The configured providers, each pointed at its base URL (the stand-in in dev)."""
    every: dict[str, RateProvider] = {
        "coingecko": CoinGecko(settings.rates_coingecko_url.rstrip("/")),
        "binance": Binance(settings.rates_binance_url.rstrip("/")),
        "kraken": Kraken(settings.rates_kraken_url.rstrip("/")),
        "coinbase": Coinbase(settings.rates_coinbase_url.rstrip("/")),
        "coinbase_fx": CoinbaseFx(settings.rates_coinbase_url.rstrip("/")),
        "open_er_api": OpenExchangeRates(settings.rates_open_er_api_url.rstrip("/")),
    }
    return [every[name] for name in settings.rates_providers]


@dataclass(frozen=True)
class RateFeeds:
    """The configured providers and the HTTP connection pool they share."""

    providers: tuple[RateProvider, ...]
    http: httpx.AsyncClient

    def only(self, *names: str) -> RateFeeds:
        """The same feeds narrowed to the providers named."""
        return RateFeeds(tuple(p for p in self.providers if p.name in names), self.http)

    async def fetch(self, provider: RateProvider, timeout_s: float) -> list[SourceQuote]:
        return await provider.fetch(self.http, timeout_s)


@asynccontextmanager
async def open_feeds(settings: Settings) -> AsyncIterator[RateFeeds]:
    """The process's rate feeds, their connection pool closed when the block ends."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0)) as http:
        yield RateFeeds(tuple(providers(settings)), http)
