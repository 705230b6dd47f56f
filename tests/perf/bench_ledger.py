"""Ledger throughput: two-leg transfers through `post()`, each in its own transaction, against
raw INSERTs of the same rows (one journal transaction, two postings) into the same tables."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from decimal import Decimal

from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.ledger.models import Purpose
from contract.ids import new_id
from contract.money import Asset, Money
from tests.perf.harness import BenchContext

TRANSFERS = 2_000
ACCOUNTS = 50
CONCURRENT_TASKS = 4
WARM_UP = 50

Move = tuple[str, str, Money]


async def _open_accounts(ctx: BenchContext) -> list[str]:
    async with unit_of_work(ctx.sessionmaker) as session:
        treasury = await ledger.system_account(session, Purpose.treasury, Asset.KES)
        ids = [
            (await ledger.open_account(session, new_id("usr"), Asset.KES)).id
            for _ in range(ACCOUNTS)
        ]
        opening = Money.of("1000000.00", Asset.KES)
        legs = [ledger.Posting(treasury.id, -Money.of(opening.amount * ACCOUNTS, Asset.KES))]
        legs += [ledger.Posting(account_id, opening) for account_id in ids]
        await ledger.post(session, "bench:opening", legs)
    return ids


def _moves(ids: Sequence[str], count: int, seed: int) -> list[Move]:
    rng = random.Random(seed)
    moves = []
    for _ in range(count):
        source, destination = rng.sample(ids, 2)
        moves.append(
            (source, destination, Money.from_minor_units(rng.randint(1, 10_000), Asset.KES))
        )
    return moves


async def _through_post(ctx: BenchContext, moves: Sequence[Move], tag: str) -> float:
    started = time.perf_counter()
    for n, (source, destination, amount) in enumerate(moves):
        async with unit_of_work(ctx.sessionmaker) as session:
            await ledger.post(
                session, f"bench:{tag}:{n}", ledger.transfer(source, destination, amount)
            )
    return time.perf_counter() - started


async def _raw_inserts(ctx: BenchContext, moves: Sequence[Move], tag: str) -> float:
    """The same rows, written with no checks, no locks and no balance updates."""
    async with ctx.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        started = time.perf_counter()
        for n, (source, destination, amount) in enumerate(moves):
            transaction_id = new_id("jtx")
            async with raw.transaction():
                await raw.execute(
                    "INSERT INTO ledger_transactions (id, idempotency_key, postings_hash, memo)"
                    " VALUES ($1, $2, $3, '')",
                    transaction_id,
                    f"bench:{tag}:{n}",
                    "0" * 64,
                )
                await raw.execute(
                    "INSERT INTO ledger_postings"
                    " (transaction_id, account_id, asset, amount, balance_after)"
                    " VALUES ($1, $2, 'KES', $3, 0), ($1, $4, 'KES', $5, 0)",
                    transaction_id,
                    source,
                    -amount.amount,
                    destination,
                    amount.amount,
                )
        return time.perf_counter() - started


async def _concurrent_post(ctx: BenchContext, moves: Sequence[Move], tag: str) -> float:
    share = len(moves) // CONCURRENT_TASKS

    async def worker(offset: int) -> None:
        await _through_post(ctx, moves[offset : offset + share], f"{tag}:{offset}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(k * share) for k in range(CONCURRENT_TASKS)))
    return time.perf_counter() - started


async def run(ctx: BenchContext) -> list[str]:
    ids = await _open_accounts(ctx)
    await _through_post(ctx, _moves(ids, WARM_UP, seed=0), "warm")
    moves = _moves(ids, TRANSFERS, seed=1)

    posted = await _through_post(ctx, moves, "post")
    raw = await _raw_inserts(ctx, moves, "raw")
    concurrent = await _concurrent_post(ctx, _moves(ids, TRANSFERS, seed=2), "concurrent")

    async with unit_of_work(ctx.sessionmaker) as session:
        problems = await ledger.reconcile(session)
    # The raw rows updated no balances, so only their accounts may disagree; no journal may.
    unbalanced = [p for p in problems if p.kind == "transaction_sum"]

    def rate(seconds: float) -> Decimal:
        return Decimal(TRANSFERS / seconds).quantize(Decimal(1))

    return [
        f"{TRANSFERS} two-leg transfers, one transaction each, {ACCOUNTS} accounts",
        f"post():           {rate(posted)} transfers/s = {2 * rate(posted)} postings/s",
        f"raw INSERTs:      {rate(raw)} transfers/s = {2 * rate(raw)} postings/s",
        f"post() / raw:     {raw / posted:.2f}  (post() costs {posted / raw:.1f}x)",
        f"post(), {CONCURRENT_TASKS} tasks:  {rate(concurrent)} transfers/s "
        f"({posted / concurrent:.2f}x one task)",
        f"journals not summing to zero after the run: {len(unbalanced)}",
    ]
