"""`GET /v1/rates`: the rates we would quote against right now.

Public (rate limited per IP): the hosted checkout and the POS show rates before anyone
signs in, the numbers are public market data, and the handler only reads the shared cache
(a refresh, when due, is one fetch cluster-wide), so anonymous callers cannot make us
hammer the providers.
"""

from __future__ import annotations

from backend.api import Call, Endpoint
from backend.clock import unix_ms
from backend.rates import service
from backend.users.access import public_limited
from contract.money import Asset
from contract.rates import Rate, Rates

# KES pairs first: what a Kenyan customer reads; then the USD legs they are built from.
_ORDER = [
    f"{asset}/{quote}"
    for quote in (Asset.KES, Asset.USD)
    for asset in (Asset.BTC, Asset.USDT, Asset.ETH, Asset.TRX, Asset.USD)
    if asset is not quote
]


async def list_rates(call: Call) -> Rates:
    settings = call.runtime.settings
    snapshot = await service.current(call.runtime)
    now_ms = unix_ms(call.runtime.clock)
    fresh = {rate.pair: rate for rate in snapshot.fresh(settings.rates_max_age_s, now_ms)}
    if not fresh:
        raise service.RatesUnavailable(headers={"Retry-After": str(settings.rates_cache_ttl_s)})
    return Rates(
        data=[
            Rate(
                pair=rate.pair,
                base=rate.base,
                quote=rate.quote,
                value=rate.value,
                sources=len(rate.sources),
                as_of=rate.as_of,
                age_seconds=rate.age_ms(now_ms) // 1000,
            )
            for name in _ORDER
            if (rate := fresh.get(name)) is not None
        ],
        max_age_seconds=settings.rates_max_age_s,
    )


ENDPOINTS = [
    Endpoint("GET", "/v1/rates", list_rates, public_limited,
             "Current exchange rates: value, number of sources and age per pair",
             response=Rates, errors=(503,), tags=("prices",)),
]  # fmt: skip  # one endpoint per entry, its fields grouped by hand
