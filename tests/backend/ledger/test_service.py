"""Ledger behaviour: what post() refuses, what it applies once, history and reconcile."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from backend.errors import InvalidRequest
from backend.ledger import service as ledger
from backend.ledger.models import LedgerTransaction, Purpose
from contract.money import Asset, Money, Network
from tests.backend.ledger.books import Books


def kes(amount: str) -> Money:
    return Money.of(amount, Asset.KES)


async def journal_count(books: Books) -> int:
    async with books.uow() as session:
        return int(await session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0)


async def test_a_transfer_moves_value_between_two_accounts(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)

    journal = await books.post(ledger.transfer(alice, bob, kes("30.50")), memo="lunch")

    assert journal.id.startswith("jtx_") and not journal.replayed
    assert await books.balance(alice) == kes("69.50")
    assert await books.balance(bob) == kes("30.50")
    assert await books.reconcile() == []


async def test_postings_that_do_not_sum_to_zero_are_refused(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)
    postings = [ledger.Posting(alice, kes("-10.00")), ledger.Posting(bob, kes("9.99"))]

    with pytest.raises(ledger.InvalidPostings) as refused:
        await books.post(postings)

    assert refused.value.reason == "unbalanced"
    assert "0.01 KES" in refused.value.message
    assert await books.balance(alice) == kes("100.00")
    assert await books.balance(bob) == kes("0.00")


async def test_legs_in_two_assets_must_each_sum_to_zero(books: Books) -> None:
    shillings = await books.funded(kes("100.00"))
    dollars = await books.funded(Money.of("100", Asset.USDT))
    # Equal numbers, different assets: 10 KES out and 10 USDT in is not a transfer.
    postings = [
        ledger.Posting(shillings, kes("-10.00")),
        ledger.Posting(dollars, Money.of("10", Asset.USDT)),
    ]

    with pytest.raises(ledger.InvalidPostings) as refused:
        await books.post(postings)

    assert refused.value.reason == "unbalanced"


async def test_money_of_another_asset_cannot_land_on_an_account(books: Books) -> None:
    shillings = await books.funded(kes("100.00"))
    other_shillings = await books.open(Asset.KES)
    usdt = Money.of("5", Asset.USDT)
    # Balanced in USDT, but both accounts hold KES.
    postings = [ledger.Posting(shillings, -usdt), ledger.Posting(other_shillings, usdt)]

    with pytest.raises(ledger.InvalidPostings) as refused:
        await books.post(postings)

    assert refused.value.reason == "asset_mismatch"
    assert await books.balance(shillings) == kes("100.00")


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (Money.of("0", Asset.KES), "zero"),
        # model_construct skips Money's own check, as careless code could.
        (Money.model_construct(amount=Decimal("1.001"), asset=Asset.KES), "inexact"),
    ],
)
async def test_zero_and_inexact_amounts_are_refused(
    books: Books, amount: Money, reason: str
) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)

    negated = Money.model_construct(amount=-amount.amount, asset=amount.asset)

    with pytest.raises(ledger.InvalidPostings) as refused:
        await books.post([ledger.Posting(alice, negated), ledger.Posting(bob, amount)])

    assert refused.value.reason == reason


async def test_an_account_appears_once_per_transaction(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)
    postings = [
        ledger.Posting(alice, kes("-5.00")),
        ledger.Posting(alice, kes("-5.00")),
        ledger.Posting(bob, kes("10.00")),
    ]

    with pytest.raises(ledger.InvalidPostings) as refused:
        await books.post(postings)

    assert refused.value.reason == "duplicate"


async def test_an_overdraft_names_the_account_and_changes_nothing(books: Books) -> None:
    alice = await books.funded(kes("10.00"))
    bob = await books.open(Asset.KES)
    journals_before = await journal_count(books)

    async with books.uow() as session:
        with pytest.raises(ledger.InsufficientFunds) as refused:
            await ledger.post(session, "overdraft", ledger.transfer(alice, bob, kes("10.01")))
        # Nothing was written, so the caller's transaction carries on.
        await ledger.post(session, "fits", ledger.transfer(alice, bob, kes("4.00")))

    error = refused.value
    assert error.status == 409 and error.code == "insufficient_funds"
    assert error.account_id == alice and alice in error.message
    assert error.balance == kes("10.00") and error.needed == kes("10.01")
    assert await books.balance(alice) == kes("6.00")
    assert await books.balance(bob) == kes("4.00")
    assert await journal_count(books) == journals_before + 1
    async with books.uow() as session:
        assert await ledger.find_journal(session, "overdraft") is None


async def test_the_database_itself_refuses_a_negative_balance(books: Books) -> None:
    alice = await books.funded(kes("10.00"))

    with pytest.raises(IntegrityError, match="balance_non_negative"):
        async with books.uow() as session:
            await session.execute(
                text("UPDATE ledger_accounts SET balance = -1 WHERE id = :id"), {"id": alice}
            )


async def test_system_accounts_that_may_go_negative_say_so(books: Books) -> None:
    customer = await books.open(Asset.USDT)
    async with books.uow() as session:
        wallet = await ledger.system_account(session, Purpose.hot_wallet, Asset.USDT, Network.tron)
        fees = await ledger.system_account(session, Purpose.fees, Asset.USDT)
    assert wallet.allow_negative and not fees.allow_negative

    deposit = Money.of("25", Asset.USDT)
    await books.post(ledger.transfer(wallet.id, customer, deposit))
    assert await books.balance(wallet.id) == -deposit

    with pytest.raises(ledger.InsufficientFunds):
        await books.post(ledger.transfer(fees.id, customer, Money.of("1", Asset.USDT)))


async def test_accounts_are_created_once_per_owner_asset_and_purpose(books: Books) -> None:
    async with books.uow() as session:
        first = await ledger.open_account(session, "usr_1", Asset.KES)
        again = await ledger.open_account(session, "usr_1", Asset.KES)
        held = await ledger.open_account(session, "usr_1", Asset.KES, Purpose.held)
        tron = await ledger.system_account(session, Purpose.hot_wallet, Asset.USDT, Network.tron)
        eth = await ledger.system_account(session, Purpose.hot_wallet, Asset.USDT, Network.ethereum)
        tron_again = await ledger.system_account(
            session, Purpose.hot_wallet, Asset.USDT, Network.tron
        )
        owned = [account.id for account in await ledger.accounts_of(session, "usr_1")]

    assert first.id == again.id and first.id.startswith("acct_")
    assert held.id != first.id and sorted(owned) == sorted([first.id, held.id])
    assert tron.id == tron_again.id != eth.id


async def test_account_objects_the_caller_holds_show_the_new_balance(books: Books) -> None:
    async with books.uow() as session:
        alice = await ledger.open_account(session, "usr_alice", Asset.KES)
        treasury = await ledger.system_account(session, Purpose.treasury, Asset.KES)
        await ledger.post(session, "k", ledger.transfer(treasury.id, alice.id, kes("7.00")))

        assert alice.balance_money() == kes("7.00")
        assert treasury.balance_money() == kes("-7.00")
        assert (await ledger.get_account(session, alice.id)).balance == Decimal("7.00")


async def test_system_accounts_are_named_by_purpose_and_network(books: Books) -> None:
    async with books.uow() as session:
        with pytest.raises(ledger.InvalidPostings):
            await ledger.system_account(session, Purpose.hot_wallet, Asset.USDT)
        with pytest.raises(ledger.InvalidPostings):
            await ledger.system_account(session, Purpose.hot_wallet, Asset.BTC, Network.tron)
        with pytest.raises(ledger.InvalidPostings):
            await ledger.system_account(session, Purpose.fees, Asset.KES, Network.tron)
        with pytest.raises(ledger.InvalidPostings):
            await ledger.system_account(session, Purpose.available, Asset.KES)
        with pytest.raises(ledger.InvalidPostings):
            await ledger.open_account(session, "usr_1", Asset.KES, Purpose.fees)


async def test_an_unknown_account_is_refused(books: Books) -> None:
    alice = await books.funded(kes("10.00"))

    with pytest.raises(ledger.AccountNotFound) as refused:
        await books.post(ledger.transfer(alice, "acct_nothere", kes("1.00")))

    assert refused.value.account_id == "acct_nothere"
    assert await books.balance(alice) == kes("10.00")


async def test_replaying_a_key_with_the_same_postings_changes_nothing(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)
    legs = ledger.transfer(alice, bob, kes("25.00"))

    first = await books.post(legs, key="invoice:inv_1:paid")
    again = await books.post(list(reversed(legs)), key="invoice:inv_1:paid")

    assert again.replayed and not first.replayed
    assert again.id == first.id and again.created_at == first.created_at
    assert sorted(again.postings, key=str) == sorted(first.postings, key=str)
    assert await books.balance(alice) == kes("75.00")
    assert await books.balance(bob) == kes("25.00")


async def test_a_replay_answers_even_when_the_funds_are_gone_since(books: Books) -> None:
    alice = await books.funded(kes("10.00"))
    bob = await books.open(Asset.KES)
    legs = ledger.transfer(alice, bob, kes("10.00"))

    first = await books.post(legs, key="k")
    again = await books.post(legs, key="k")

    assert again.id == first.id and again.replayed


async def test_reusing_a_key_for_other_postings_is_a_conflict(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)
    first = await books.post(ledger.transfer(alice, bob, kes("25.00")), key="k")

    with pytest.raises(ledger.LedgerKeyReused) as refused:
        await books.post(ledger.transfer(alice, bob, kes("26.00")), key="k")

    assert refused.value.status == 409 and refused.value.transaction_id == first.id
    assert await books.balance(bob) == kes("25.00")


async def test_racing_posts_with_one_key_apply_once(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)
    legs = ledger.transfer(alice, bob, kes("60.00"))

    results = await asyncio.gather(*(books.post(legs, key="race") for _ in range(6)))

    assert len({journal.id for journal in results}) == 1
    assert sum(not journal.replayed for journal in results) == 1
    assert await books.balance(bob) == kes("60.00")


async def test_racing_posts_with_one_key_and_other_postings_apply_one(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob, carol = await books.open(Asset.KES), await books.open(Asset.KES)
    attempts = [
        books.post(ledger.transfer(alice, bob, kes("10.00")), key="race"),
        books.post(ledger.transfer(alice, carol, kes("20.00")), key="race"),
        books.post(ledger.transfer(bob, carol, kes("0.01")), key="race"),
    ]

    results = await asyncio.gather(*attempts, return_exceptions=True)

    applied = [result for result in results if isinstance(result, ledger.Journal)]
    refused = [result for result in results if isinstance(result, ledger.LedgerKeyReused)]
    insufficient = [r for r in results if isinstance(r, ledger.InsufficientFunds)]
    assert len(applied) == 1 and len(refused) + len(insufficient) == 2, results
    total = (await books.balance(bob)).amount + (await books.balance(carol)).amount
    assert total in (Decimal("10.00"), Decimal("20.00"))
    assert await books.reconcile() == []


async def test_history_pages_newest_first_with_running_balances(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)
    for n in range(1, 5):
        await books.post(ledger.transfer(alice, bob, kes(f"{n}.00")), memo=f"payment {n}")

    seen: list[ledger.Entry] = []
    pages = []
    cursor = None
    async with books.uow() as session:
        while True:
            page = await ledger.history(session, alice, limit=2, cursor=cursor)
            pages.append((len(page.data), page.has_more))
            seen += page.data
            if not page.has_more:
                break
            cursor = page.next_cursor

    assert pages == [(2, True), (2, True), (1, False)]
    assert [entry.amount for entry in seen] == [
        kes("-4.00"),
        kes("-3.00"),
        kes("-2.00"),
        kes("-1.00"),
        kes("100.00"),
    ]
    assert [entry.balance_after for entry in seen] == [
        kes("90.00"),
        kes("94.00"),
        kes("97.00"),
        kes("99.00"),
        kes("100.00"),
    ]
    assert seen[0].memo == "payment 4"
    assert [entry.created_at for entry in seen] == sorted(
        (entry.created_at for entry in seen), reverse=True
    )


async def test_history_refuses_a_foreign_cursor_and_odd_limits(books: Books) -> None:
    alice = await books.funded(kes("1.00"))
    async with books.uow() as session:
        with pytest.raises(ledger.InvalidCursor):
            await ledger.history(session, alice, cursor="abc")
        with pytest.raises(InvalidRequest):
            await ledger.history(session, alice, limit=0)
        with pytest.raises(ledger.AccountNotFound):
            await ledger.history(session, "acct_nothere")


async def test_reconcile_finds_a_hand_corrupted_balance(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)
    await books.post(ledger.transfer(alice, bob, kes("1.00")))
    assert await books.reconcile() == []

    async with books.uow() as session:
        await session.execute(
            text("UPDATE ledger_accounts SET balance = balance + 5 WHERE id = :id"),
            {"id": bob},
        )

    assert await books.reconcile() == [
        ledger.Discrepancy("account_balance", bob, Asset.KES, Decimal("1.00"), Decimal("6.00"))
    ]


async def test_reconcile_finds_a_transaction_that_does_not_sum_to_zero(books: Books) -> None:
    alice = await books.funded(kes("100.00"))
    bob = await books.open(Asset.KES)
    journal = await books.post(ledger.transfer(alice, bob, kes("1.00")))

    async with books.uow() as session:
        await session.execute(
            text(
                "INSERT INTO ledger_postings"
                " (transaction_id, account_id, asset, amount, balance_after)"
                " VALUES (:tx, :account, 'KES', 2, 3)"
            ),
            {"tx": journal.id, "account": bob},
        )
        await session.execute(
            text("UPDATE ledger_accounts SET balance = balance + 2 WHERE id = :id"),
            {"id": bob},
        )

    assert await books.reconcile() == [
        ledger.Discrepancy("transaction_sum", journal.id, Asset.KES, Decimal(0), Decimal("2.00"))
    ]


async def test_postings_are_append_only(books: Books) -> None:
    alice = await books.funded(kes("1.00"))

    for statement in ("UPDATE ledger_postings SET amount = 2", "DELETE FROM ledger_postings"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with books.uow() as session:
                await session.execute(text(statement))

    assert await books.balance(alice) == kes("1.00")
    assert await books.reconcile() == []
