"""Turning many providers' quotes into one rate per pair: median, outliers dropped, KES
pairs derived. Pure functions on Decimals, so the arithmetic is testable on its own.

Invariants: a published value is the median of at least `min_sources` distinct providers
that each sit within `max_spread` of the median of all of them; a pair without enough
agreeing sources is left out rather than guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext

from backend.connectors.rates import CRYPTO, SourceQuote
from contract.money import Asset

# Mid-market rates are not money: they keep 8 decimals and meet a named rounding only
# when they price an amount.
RATE_QUANTUM = Decimal("1e-8")


@dataclass(frozen=True)
class Aggregated:
    base: Asset
    quote: Asset
    value: Decimal
    sources: tuple[str, ...]
    dropped: tuple[str, ...] = ()

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"


def median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    with localcontext() as ctx:
        ctx.prec = 50
        return (ordered[middle - 1] + ordered[middle]) / 2


def robust_median(
    quotes: list[tuple[str, Decimal]], max_spread: Decimal
) -> tuple[Decimal | None, tuple[str, ...], tuple[str, ...]]:
    """Median of the quotes within `max_spread` (a fraction) of the median of all of them.

    Returns (value or None, kept provider names, dropped provider names)."""
    if not quotes:
        return None, (), ()
    centre = median([value for _, value in quotes])
    kept = [(name, value) for name, value in quotes if abs(value - centre) <= centre * max_spread]
    dropped = tuple(sorted(name for name, value in quotes if (name, value) not in kept))
    if not kept:
        return None, (), dropped
    return median([value for _, value in kept]), tuple(sorted(n for n, _ in kept)), dropped


def _one_per_provider(quotes: Iterable[SourceQuote]) -> list[tuple[str, Decimal]]:
    # A provider counts once per pair however it got there (e.g. Binance via USDT).
    seen: dict[str, Decimal] = {}
    for quote in quotes:
        seen.setdefault(quote.provider, quote.value)
    return sorted(seen.items())


def aggregate(
    quotes: Iterable[SourceQuote],
    *,
    max_spread: Decimal,
    min_crypto_sources: int,
    min_fx_sources: int,
) -> tuple[dict[str, Aggregated], list[Aggregated]]:
    """Aggregate fresh quotes into `{pair: rate}` for X/USD, USD/KES and X/KES.

    Also returns every aggregate that dropped an outlier, so the caller can log them."""
    by_pair: dict[tuple[Asset, Asset], list[SourceQuote]] = defaultdict(list)
    for quote in quotes:
        by_pair[(quote.base, quote.quote)].append(quote)

    rates: dict[str, Aggregated] = {}
    noisy: list[Aggregated] = []

    def publish(base: Asset, quote: Asset, entries: list[tuple[str, Decimal]], need: int) -> None:
        value, kept, dropped = robust_median(entries, max_spread)
        result = Aggregated(base, quote, value or Decimal(0), kept, dropped)
        if dropped:
            noisy.append(result)
        if value is not None and len(kept) >= need:
            rates[result.pair] = Aggregated(
                base, quote, value.quantize(RATE_QUANTUM), kept, dropped
            )

    # USDT/USD first: USDT-quoted sources (Binance) reach USD through it. As a mere
    # conversion factor one source will do, since the converted prices still have to agree
    # with the direct ones; publishing USDT/USD itself takes the usual minimum.
    usdt_entries = _one_per_provider(by_pair[(Asset.USDT, Asset.USD)])
    publish(Asset.USDT, Asset.USD, usdt_entries, min_crypto_sources)
    usdt_usd, _, _ = robust_median(usdt_entries, max_spread)
    for asset in CRYPTO:
        if asset is Asset.USDT:
            continue
        direct = list(by_pair[(asset, Asset.USD)])
        if usdt_usd is not None:
            with localcontext() as ctx:
                ctx.prec = 50
                direct += [
                    SourceQuote(q.provider, asset, Asset.USD, q.value * usdt_usd)
                    for q in by_pair[(asset, Asset.USDT)]
                ]
        publish(asset, Asset.USD, _one_per_provider(direct), min_crypto_sources)

    publish(Asset.USD, Asset.KES, _one_per_provider(by_pair[(Asset.USD, Asset.KES)]),
            min_fx_sources)  # fmt: skip  # the arguments kept on two lines, not one per line
    fx = rates.get("USD/KES")
    if fx is not None:
        for asset in CRYPTO:
            leg = rates.get(f"{asset}/USD")
            if leg is None:
                continue
            with localcontext() as ctx:
                ctx.prec = 50
                value = (leg.value * fx.value).quantize(RATE_QUANTUM)
            # The weaker leg bounds how many sources stand behind a derived pair.
            sources = leg.sources if len(leg.sources) <= len(fx.sources) else fx.sources
            rates[f"{asset}/KES"] = Aggregated(asset, Asset.KES, value, sources)
    return rates, noisy
