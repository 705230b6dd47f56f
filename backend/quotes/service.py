"""Quotes: price a request at the current rate, hold it for the caller, consume it once.

    create(session, runtime, owner_id, request)            price, check limits, store
    get(session, quote_id, owner_id)                        the owner's quote, or 404
    consume(session, quote_id, owner_id, purpose, reference)
                                                            compare-and-set open → consumed

Invariants: a quote is priced from a rate no older than the staleness bound (else 503
`rates_unavailable`); its expiry is set and checked on the database clock, so every API
and worker process agrees when it lapsed; `consume` succeeds once per quote (a repeat by
the same consumer reference returns the same quote, anything else is a 409).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import cast

from sqlalchemy import Interval, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend import machine
from backend.errors import Conflict, InvalidRequest, InvalidTransition, InvariantBroken, NotFound
from backend.limits import service as limits
from backend.quotes.models import ALLOWED, FLOW_OF, ConsumedBy, Quote, QuoteState
from backend.quotes.pricing import PRICERS
from backend.rates import service as rates
from backend.runtime import Runtime
from contract.ids import new_id
from contract.limits import LimitAction
from contract.money import Asset, Money, Network
from contract.quotes import FeeLine, QuoteFlow, QuoteRequest, QuoteSide, QuoteStatus
from contract.quotes import Quote as QuoteOut

_LIMIT_ACTION = {QuoteFlow.buy: LimitAction.buy, QuoteFlow.sell: LimitAction.sell}


class QuoteNotFound(NotFound):
    code, message = "quote_not_found", "No such quote."


class QuoteExpired(Conflict):
    code, message = "quote_expired", "This quote has expired; ask for a new one."


class QuoteConsumed(Conflict):
    code, message = "quote_consumed", "This quote has already been used."


class QuoteMismatch(Conflict):
    code = "quote_mismatch"


# Built once: quoting is the hot path, and the times come from the database clock.
_INSERT = (
    insert(Quote)
    .values(
        created_at=func.statement_timestamp(),
        expires_at=func.statement_timestamp() + bindparam("lock", type_=Interval()),
    )
    .returning(Quote)
)


async def create(
    session: AsyncSession,
    runtime: Runtime,
    owner_id: str,
    request: QuoteRequest,
    *,
    flow: QuoteFlow | None = None,
    lock_s: int | None = None,
) -> Quote:
    """Price `request` for `owner_id` and hold it for `lock_s` seconds (default
    QUOTE_LOCK_S; the invoice service passes its own window)."""
    flow = flow or QuoteFlow(request.side)
    if flow is QuoteFlow.invoice and request.side is not QuoteSide.sell:
        raise InvalidRequest("An invoice quote is priced as a sale of crypto.", param="side")
    lock = lock_s if lock_s is not None else runtime.settings.quote_lock_s
    if lock <= 0:
        raise ValueError("a quote is held for a positive time")
    action = _LIMIT_ACTION.get(flow)
    # The rate (Redis) and what the owner has used (PostgreSQL) are read at once: quoting
    # is the hot path, and neither needs the other.
    # Both finish before either's error is raised, so the session is never rolled back under
    # a query still running on it.
    standing: limits.Standing | None = None
    if action is None:
        rate = await rates.rate(runtime, request.asset, Asset.KES)
    else:
        found_rate, found_standing = await asyncio.gather(
            rates.rate(runtime, request.asset, Asset.KES),
            limits.standing(session, runtime.settings, owner_id, action),
            return_exceptions=True,
        )
        for outcome in (found_rate, found_standing):
            if isinstance(outcome, BaseException):
                raise outcome
        rate, standing = cast(rates.PairRate, found_rate), cast(limits.Standing, found_standing)
    requested = Money.of(request.amount, request.amount_currency)
    priced = PRICERS[flow](runtime.settings, rate.value, requested, request.asset)
    if action is not None and standing is not None:
        # A preview: the order that consumes the quote records the usage for real.
        limits.refuse_breach(action, standing, priced.subtotal)
    row: Quote | None = await session.scalar(
        _INSERT,
        {
            "id": new_id("quo"),
            "owner_id": owner_id,
            "flow": str(flow),
            "side": str(priced.side),
            "asset": str(request.asset),
            "network": str(request.network),
            "requested_amount": requested.amount,
            "requested_currency": str(requested.asset),
            "rate": rate.value,
            "rate_sources": len(rate.sources),
            "rate_as_of": rate.as_of,
            "amount": priced.amount.amount,
            "subtotal": priced.subtotal.amount,
            "fee_total": priced.fee.amount,
            "total": priced.total.amount,
            "fees": [fee.model_dump(mode="json") for fee in priced.fees],
            "status": str(QuoteState.open),
            "lock": timedelta(seconds=lock),
        },
    )
    if row is None:
        raise InvariantBroken("INSERT … RETURNING gave no quote row.")
    return row


async def get(session: AsyncSession, quote_id: str, owner_id: str) -> Quote:
    """The owner's quote; anyone else's is answered as not found."""
    row = await session.scalar(
        select(Quote).where(Quote.id == quote_id, Quote.owner_id == owner_id)
    )
    if row is None:
        raise QuoteNotFound(param="quote_id")
    return row


async def consume(
    session: AsyncSession,
    quote_id: str,
    owner_id: str,
    purpose: ConsumedBy,
    reference: str | None = None,
) -> Quote:
    """Use the quote for `purpose` (a buy order, a sell order, an invoice), once.

    A compare-and-set: only an open, unexpired quote of the owner and of the matching flow
    moves to consumed, so two concurrent consumers cannot both win. 404 for a quote that
    is not the owner's; 409 `quote_expired`, `quote_consumed` or `quote_mismatch`
    otherwise. Calling again with the same `reference` after success returns the quote
    (a retried job changes nothing)."""
    flow = FLOW_OF[purpose]
    try:
        return await machine.transition(
            session,
            Quote,
            quote_id,
            ALLOWED,
            QuoteState.consumed,
            where=[
                Quote.owner_id == owner_id,
                Quote.flow == flow,
                Quote.expires_at > func.statement_timestamp(),
            ],
            values={
                "consumed_at": func.statement_timestamp(),
                "consumed_by": purpose,
                "consumed_reference": reference,
            },
        )
    except InvalidTransition:  # say which rule refused it
        found = await get(session, quote_id, owner_id)
    if found.status == QuoteState.consumed:
        if reference is not None and (found.consumed_by, found.consumed_reference) == (
            str(purpose),
            reference,
        ):
            return found
        raise QuoteConsumed(param="quote_id")
    if found.flow != str(flow):
        raise QuoteMismatch(
            f"This is a {found.flow} quote; a {purpose.replace('_', ' ')} needs a {flow} quote.",
            param="quote_id",
        )
    raise QuoteExpired(param="quote_id")


def status_of(row: Quote, now_expired: bool) -> QuoteStatus:
    if row.status == QuoteState.consumed:
        return QuoteStatus.consumed
    return QuoteStatus.expired if now_expired else QuoteStatus.open


def to_wire(row: Quote, expired: bool) -> QuoteOut:
    """The contract view; `expired` is whether the database clock has passed expires_at."""
    asset = Asset(row.asset)
    return QuoteOut(
        id=row.id,
        status=status_of(row, expired),
        side=QuoteSide(row.side),
        flow=QuoteFlow(row.flow),
        asset=asset,
        network=Network(row.network),
        requested=Money.of(row.requested_amount, row.requested_currency),
        rate=row.rate,
        rate_sources=row.rate_sources,
        rate_as_of=row.rate_as_of,
        amount=Money.of(row.amount, asset),
        subtotal=Money.of(row.subtotal, Asset.KES),
        fees=[FeeLine.model_validate(fee) for fee in row.fees],
        fee=Money.of(row.fee_total, Asset.KES),
        total=Money.of(row.total, Asset.KES),
        created_at=row.created_at,
        expires_at=row.expires_at,
        consumed_at=row.consumed_at,
    )


async def is_expired(session: AsyncSession, row: Quote) -> bool:
    expired: bool | None = await session.scalar(
        select(func.statement_timestamp() >= row.expires_at)
    )
    return bool(expired)


def kes_value(row: Quote) -> Money:
    """The KES value of the quoted crypto: what limits count for the order consuming it."""
    return Money(amount=Decimal(row.subtotal), asset=Asset.KES)
