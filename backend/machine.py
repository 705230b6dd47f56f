"""One way to change a status, shared by the state machines that emit an event per move
(withdrawals, outbound transactions, sweeps): a compare-and-set UPDATE from any status
allowed to reach the new one, and an event row in the same transaction.

Invariant: a row moves only along its table's ALLOWED edges, and two racing callers cannot
both move it: the second finds the status already changed and gets InvalidTransition.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import InvalidTransition
from backend.events import service as events

S = TypeVar("S", bound=StrEnum)
M = TypeVar("M")


def sources(allowed: Mapping[S, frozenset[S]], to: S) -> list[str]:
    return [str(status) for status, targets in allowed.items() if to in targets]


async def transition(
    session: AsyncSession,
    model: type[M],
    row_id: str,
    allowed: Mapping[S, frozenset[S]],
    to: S,
    *,
    event: str,
    owner_id: str | None = None,
    values: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> M:
    """Move row `row_id` of `model` to status `to` (setting `values` too) and emit `event`.

    Raises InvalidTransition (409) when the row is not in a status that may reach `to`.
    Returns the updated row, refreshed from the database.
    """
    column: Any = model.status  # type: ignore[attr-defined]  # every machine has a status
    key: Any = model.id  # type: ignore[attr-defined]  # and an id column
    moved = await session.scalar(
        update(model)
        .where(key == row_id, column.in_(sources(allowed, to)))
        .values(status=str(to), **(values or {}))
        .returning(model)
        .execution_options(populate_existing=True)
    )
    if moved is None:
        raise InvalidTransition(f"{row_id} cannot become {to}.", subject_id=row_id, to=str(to))
    await events.emit(
        session, event, row_id, {"id": row_id, "status": str(to), **(data or {})}, owner_id
    )
    return moved
