"""The rate-feed stand-in served over real HTTP for the whole test session, and a handle on
its `/_sim` switches. Every test's settings point the rate providers at it, so no test
reaches a public rate API and the real provider clients are what runs."""

from __future__ import annotations

from typing import Any

import httpx

from backend.sandbox.rates import PROVIDERS, create_app
from tests.served import Served

# The market every test starts from (the feed's own offsets per provider still apply).
MARKET = {
    "BTC/USD": "67000.00",
    "USDT/USD": "1.0000",
    "ETH/USD": "3500.00",
    "TRX/USD": "0.1200",
    "USD/KES": "129.00",
}


class RatesFeedServer:
    """The stand-in served over real HTTP on a loopback port (tests/served.py)."""

    def __init__(self) -> None:
        self.served = Served(create_app())
        self.url = self.served.url

    def stop(self) -> None:
        self.served.stop()

    def settings(self) -> dict[str, str]:
        """Settings fields that point every provider at this feed."""
        return {
            "rates_coingecko_url": f"{self.url}/coingecko",
            "rates_binance_url": f"{self.url}/binance",
            "rates_kraken_url": f"{self.url}/kraken",
            "rates_coinbase_url": f"{self.url}/coinbase",
            "rates_open_er_api_url": f"{self.url}/open_er_api",
        }


class RatesFeed:
    """The `/_sim` control API, for tests that change the market or break a provider."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            response = await client.post(f"/_sim{path}", json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def reset(self) -> None:
        """A steady market: fixed prices, no drift, every provider healthy."""
        await self._post("/reset", {"wiggle": False})
        await self._post("/prices", dict(MARKET))

    async def prices(self, **pairs: str) -> None:
        """Move the market, e.g. `prices(BTC_USD="70000")`."""
        await self._post("/prices", {name.replace("_", "/"): v for name, v in pairs.items()})

    async def drift(self, on: bool = True) -> None:
        """Let prices wander a few basis points between calls, as a live market does."""
        await self._post("/prices", {"wiggle": on})

    async def provider(self, name: str, **switches: Any) -> None:
        """mode=ok|error|timeout|malformed|stale, status, delay_ms, offset_bps, stale_by_s,
        prices={"BTC/USD": "…"} (this provider's own answer)."""
        assert name in PROVIDERS, name
        await self._post(f"/providers/{name}", switches)

    async def hits(self) -> dict[str, int]:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            state = (await client.get("/_sim")).json()
        return {name: entry["hits"] for name, entry in state["providers"].items()}
