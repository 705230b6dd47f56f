"""Median aggregation on its own: outliers out, too few sources means no rate, USDT-quoted
sources reach USD through the USDT/USD median, KES pairs are the product of their legs."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from backend.connectors.rates import SourceQuote
from backend.rates.aggregate import aggregate, median, robust_median
from contract.money import Asset
from tests.properties import accepted, accepting_at_least, refused

SPREAD = Decimal("0.02")


def q(provider: str, base: Asset, quote: Asset, value: str) -> SourceQuote:
    return SourceQuote(provider, base, quote, Decimal(value))


def run(*quotes: SourceQuote, min_crypto: int = 2, min_fx: int = 1) -> dict[str, Decimal]:
    rates, _ = aggregate(
        quotes, max_spread=SPREAD, min_crypto_sources=min_crypto, min_fx_sources=min_fx
    )
    return {pair: rate.value for pair, rate in rates.items()}


def test_median_of_odd_and_even_counts() -> None:
    assert median([Decimal(3), Decimal(1), Decimal(2)]) == 2
    assert median([Decimal(4), Decimal(1), Decimal(2), Decimal(3)]) == Decimal("2.5")


def test_an_outlier_is_dropped_and_named() -> None:
    value, kept, dropped = robust_median(
        [("a", Decimal(100)), ("b", Decimal(101)), ("c", Decimal(99)), ("d", Decimal(130))],
        SPREAD,
    )
    assert (value, kept, dropped) == (Decimal(100), ("a", "b", "c"), ("d",))


def test_two_sources_that_disagree_give_no_rate() -> None:
    # With two sources more than twice the spread apart, neither can be trusted.
    value, kept, dropped = robust_median([("a", Decimal(100)), ("b", Decimal(110))], SPREAD)
    assert value is None and kept == () and dropped == ("a", "b")


def test_a_crypto_pair_needs_min_sources_fx_its_own_minimum() -> None:
    rates = run(
        q("coingecko", Asset.BTC, Asset.USD, "67000"),
        q("coingecko", Asset.USDT, Asset.USD, "1"),
        q("kraken", Asset.USDT, Asset.USD, "1.0002"),
        q("open_er_api", Asset.USD, Asset.KES, "129"),
    )
    assert "BTC/USD" not in rates and "BTC/KES" not in rates
    assert rates["USDT/USD"] == Decimal("1.0001")
    assert rates["USD/KES"] == 129
    assert rates["USDT/KES"] == Decimal("129.0129")


def test_usdt_quoted_sources_reach_usd_through_the_usdt_median() -> None:
    rates, _ = aggregate(
        [
            q("coingecko", Asset.USDT, Asset.USD, "0.99"),
            q("kraken", Asset.USDT, Asset.USD, "0.99"),
            q("binance", Asset.BTC, Asset.USDT, "70000"),
            q("kraken", Asset.BTC, Asset.USD, "69300"),
        ],
        max_spread=SPREAD,
        min_crypto_sources=2,
        min_fx_sources=1,
    )
    assert rates["BTC/USD"].value == Decimal("69300")  # 70000 USDT x 0.99 and 69300
    assert rates["BTC/USD"].sources == ("binance", "kraken")


def test_derived_kes_pairs_carry_the_weaker_legs_sources() -> None:
    rates, _ = aggregate(
        [
            *(q(p, Asset.BTC, Asset.USD, "60000") for p in ("coingecko", "kraken", "coinbase")),
            q("open_er_api", Asset.USD, Asset.KES, "130"),
        ],
        max_spread=SPREAD,
        min_crypto_sources=2,
        min_fx_sources=1,
    )
    assert rates["BTC/KES"].value == Decimal(7_800_000)
    assert rates["BTC/KES"].sources == ("open_er_api",)


def test_a_provider_counts_once_per_pair() -> None:
    rates = run(
        q("kraken", Asset.USDT, Asset.USD, "1"),
        q("kraken", Asset.USDT, Asset.USD, "1"),
        min_crypto=2,
    )
    assert "USDT/USD" not in rates


prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=4)


@accepting_at_least(50)
@given(st.lists(prices, min_size=1, max_size=9))
def test_the_robust_median_sits_within_the_spread_of_every_kept_source(
    values: list[Decimal],
) -> None:
    quotes = [(f"p{i}", value) for i, value in enumerate(values)]
    value, kept, dropped = robust_median(quotes, SPREAD)
    assert len(kept) + len(dropped) == len(quotes)
    if value is None:
        refused("no source near the median")
        return
    accepted()
    kept_values = [v for name, v in quotes if name in kept]
    assert min(kept_values) <= value <= max(kept_values)
    centre = median(values)
    assert all(abs(v - centre) <= centre * SPREAD for v in kept_values)


def test_one_usdt_source_still_converts_binance_but_is_not_published() -> None:
    rates = run(
        q("coinbase", Asset.USDT, Asset.USD, "1.001"),
        q("binance", Asset.BTC, Asset.USDT, "70000"),
        q("coinbase", Asset.BTC, Asset.USD, "70070"),
    )
    assert "USDT/USD" not in rates
    assert rates["BTC/USD"] == Decimal("70070")
