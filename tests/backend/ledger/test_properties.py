"""Ledger properties: random transfers, one after another or all at once, never create or
destroy value and never overdraw; concurrent posts over the same accounts never deadlock."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.ledger import service as ledger
from contract.money import EXPONENT, Asset, Money
from tests.backend.ledger.books import Books

ASSETS = (Asset.KES, Asset.USDT, Asset.ETH)
ACCOUNTS_PER_ASSET = 3


def minor_units(asset: Asset) -> st.SearchStrategy[int]:
    # Up to a thousand whole units, down to the smallest unit, so every scale is exercised.
    return st.integers(min_value=1, max_value=10 ** (EXPONENT[asset] + 3))


@dataclass(frozen=True)
class Transfer:
    asset: Asset
    source: int
    destination: int
    units: int

    @property
    def money(self) -> Money:
        return Money.from_minor_units(self.units, self.asset)


@st.composite
def transfers(draw: st.DrawFn) -> Transfer:
    asset = draw(st.sampled_from(ASSETS))
    source = draw(st.integers(0, ACCOUNTS_PER_ASSET - 1))
    # Any account but the source, without rejecting draws.
    destination = (source + draw(st.integers(1, ACCOUNTS_PER_ASSET - 1))) % ACCOUNTS_PER_ASSET
    return Transfer(asset, source, destination, draw(minor_units(asset)))


@st.composite
def openings(draw: st.DrawFn) -> dict[Asset, list[int]]:
    """Opening balances in minor units; zero is common, so overdrafts are too."""
    return {
        asset: draw(
            st.lists(
                st.one_of(st.just(0), minor_units(asset)),
                min_size=ACCOUNTS_PER_ASSET,
                max_size=ACCOUNTS_PER_ASSET,
            )
        )
        for asset in ASSETS
    }


async def open_books(books: Books, opening: dict[Asset, list[int]]) -> dict[Asset, list[str]]:
    return {
        asset: [await books.funded(Money.from_minor_units(units, asset)) for units in balances]
        for asset, balances in opening.items()
    }


async def check_conserved(books: Books) -> None:
    # Every unit in the books entered from a system account, so each asset nets to zero.
    assert all(total == 0 for total in (await books.totals()).values())
    assert await books.reconcile() == []


@settings(max_examples=25)
@given(opening=openings(), moves=st.lists(transfers(), max_size=15))
async def test_sequential_transfers_conserve_value_and_refuse_overdrafts(
    books: Books, opening: dict[Asset, list[int]], moves: list[Transfer]
) -> None:
    accounts = await open_books(books, opening)
    expected = {asset: list(balances) for asset, balances in opening.items()}

    for move in moves:
        source = accounts[move.asset][move.source]
        destination = accounts[move.asset][move.destination]
        affordable = expected[move.asset][move.source] >= move.units
        try:
            await books.post(ledger.transfer(source, destination, move.money))
        except ledger.InsufficientFunds as refused:
            assert not affordable and refused.account_id == source
        else:
            assert affordable
            expected[move.asset][move.source] -= move.units
            expected[move.asset][move.destination] += move.units

    for asset, ids in accounts.items():
        for account_id, units in zip(ids, expected[asset], strict=True):
            assert await books.balance(account_id) == Money.from_minor_units(units, asset)
    await check_conserved(books)


@settings(max_examples=12)
@given(
    opening=openings(),
    moves=st.lists(transfers(), min_size=2, max_size=24),
)
async def test_concurrent_transfers_conserve_value_and_never_overdraw(
    books: Books, opening: dict[Asset, list[int]], moves: list[Transfer]
) -> None:
    accounts = await open_books(books, opening)

    async def attempt(move: Transfer) -> bool:
        legs = ledger.transfer(
            accounts[move.asset][move.source], accounts[move.asset][move.destination], move.money
        )
        try:
            await books.post(legs)  # each in its own session and transaction
        except ledger.InsufficientFunds:
            return False
        return True

    # Anything but a refused overdraft (a deadlock, a CHECK violation) fails the test here.
    applied = await asyncio.gather(*(attempt(move) for move in moves))

    expected: dict[Asset, list[int]] = {asset: list(units) for asset, units in opening.items()}
    for move, done in zip(moves, applied, strict=True):
        if done:
            expected[move.asset][move.source] -= move.units
            expected[move.asset][move.destination] += move.units
    for asset, ids in accounts.items():
        for account_id, units in zip(ids, expected[asset], strict=True):
            assert units >= 0
            assert await books.balance(account_id) == Money.from_minor_units(units, asset)
    await check_conserved(books)


async def test_opposite_transfers_between_two_accounts_at_once_do_not_deadlock(
    books: Books,
) -> None:
    start = Money.of("1000.00", Asset.KES)
    alice, bob = await books.funded(start), await books.funded(start)
    step = Money.of("1.00", Asset.KES)
    moves = [(alice, bob) if n % 2 else (bob, alice) for n in range(40)]

    # Three legs each, so every post locks a third, shared account as well.
    carol = await books.funded(start)
    fee = Money.of("0.01", Asset.KES)
    legs = [
        [
            ledger.Posting(source, -(step + fee)),
            ledger.Posting(destination, step),
            ledger.Posting(carol, fee),
        ]
        for source, destination in moves
    ]

    results = await asyncio.gather(*(books.post(postings) for postings in legs))

    assert all(not journal.replayed for journal in results)
    received: dict[str, Decimal] = defaultdict(Decimal)
    for postings in legs:
        for posting in postings:
            received[posting.account_id] += posting.amount.amount
    for account_id in (alice, bob, carol):
        assert (await books.balance(account_id)).amount == start.amount + received[account_id]
    await check_conserved(books)
