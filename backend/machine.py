"""One way to change a status, for every state machine (payments, withdrawals, outbound
transactions, sweeps, quotes): a compare-and-set UPDATE from a status allowed to reach the
new one, and, where the machine publishes its moves, an event row in the same transaction.

Each machine declares its status StrEnum and an ALLOWED table (status → the statuses it
may become) next to its model, and moves rows only through `transition`.

Invariant: a row moves only along its table's ALLOWED edges, and two racing callers cannot
both make the same move: the second finds the status already changed and gets
InvalidTransition (409 at the API).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import InvalidTransition
from backend.events import service as events

S = TypeVar("S", bound=StrEnum)


M = TypeVar("M")  # a model with a string `id` and a `status` column


def sources(allowed: Mapping[S, frozenset[S]], to: S) -> list[str]:
    """Every status that may become `to`."""
    return [str(status) for status, targets in allowed.items() if to in targets]


async def transition(
    session: AsyncSession,
    model: type[M],
    row_id: str,
    allowed: Mapping[S, frozenset[S]],
    to: S,
    *,
    expect: S | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
    event: str | None = None,
    owner_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> M:
    """Move row `row_id` of `model` to status `to`, setting `values` in the same UPDATE.

    The row must be in a status ALLOWED to reach `to` (exactly `expect`, when given: the
    status the caller read and decided on) and match the extra `where` conditions. With
    `event`, an event row `{"id", "status", **data}` is written for `owner_id`.

    Raises InvalidTransition (409) when the row cannot make the move (already moved by a
    racer, in the wrong status, or failing `where`). Returns the row as updated, refreshed
    in the session.
    """
    able = sources(allowed, to)
    if expect is not None:
        if str(expect) not in able:
            raise InvalidTransition(
                f"A {expect} {model.__name__.lower()} cannot become {to}.",
                subject_id=row_id,
                to=str(to),
            )
        able = [str(expect)]
    table: Any = model  # mypy cannot see a generic model's columns; every machine has these
    moved: M | None = await session.scalar(
        update(model)
        .where(table.id == row_id, table.status.in_(able), *where)
        .values(status=str(to), **(values or {}))
        .returning(model)
        .execution_options(populate_existing=True)
    )
    if moved is None:
        raise InvalidTransition(f"{row_id} cannot become {to}.", subject_id=row_id, to=str(to))
    if event is not None:
        await events.emit(
            session, event, row_id, {"id": row_id, "status": str(to), **(data or {})}, owner_id
        )
    return moved
