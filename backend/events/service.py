"""Write events in the caller's transaction (`emit`) and read a stream back (`read`).

Invariant: within one stream (a subject or an owner) committed ids grow in commit order.
A plain identity column does not give that: a transaction may take id 10, a later one id
11 and commit first, and a reader that already moved past 11 would never see 10. So
`emit` inserts at once (visible to the transaction, undone with its savepoint), and just
before COMMIT the transaction takes an advisory lock per stream it touched, in a fixed
order, and renumbers its events. The lock is held only for that UPDATE and the COMMIT, so
emitters of one stream queue for about a commit's time and cannot deadlock on it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from backend.events.models import TYPE_PATTERN, Event
from contract.events import EventEnvelope
from contract.ids import new_id

_TYPE = re.compile(TYPE_PATTERN)
_PENDING = "events.pending"
# Advisory-lock namespace (the two-int form) for "next id of this stream"; the relay's
# singleton lock is (LOCK_CLASS + 1, 0).
LOCK_CLASS = 0x0E7E
PAGE = 500


@dataclass(frozen=True)
class Stream:
    """What one SSE connection follows: everything about a subject, or of an owner."""

    kind: Literal["subject", "owner"]
    id: str

    @classmethod
    def subject(cls, subject_id: str) -> Stream:
        return cls("subject", subject_id)

    @classmethod
    def owner(cls, owner_id: str) -> Stream:
        return cls("owner", owner_id)

    @property
    def channel(self) -> str:
        return f"qpeapay:events:{self.kind}:{self.id}"

    def matches(self) -> ColumnElement[bool]:
        column = Event.subject_id if self.kind == "subject" else Event.owner_id
        return column == self.id


def streams_of(subject_id: str, owner_id: str | None) -> list[Stream]:
    streams = [Stream.subject(subject_id)]
    if owner_id is not None:
        streams.append(Stream.owner(owner_id))
    return streams


@dataclass(frozen=True)
class StreamEvent:
    """An event as a stream delivers it: its position, its type and the JSON body."""

    seq: int
    type: str
    body: str

    @classmethod
    def of(cls, row: Event) -> StreamEvent:
        envelope = EventEnvelope(
            id=row.public_id,
            type=row.type,
            subject_id=row.subject_id,
            created_at=row.created_at,
            data=row.data,
        )
        return cls(row.id, row.type, envelope.model_dump_json())

    def message(self) -> str:
        return json.dumps({"seq": self.seq, "type": self.type, "body": self.body})

    @classmethod
    def from_message(cls, raw: str | bytes) -> StreamEvent:
        fields = json.loads(raw)
        return cls(int(fields["seq"]), str(fields["type"]), str(fields["body"]))


async def emit(
    session: AsyncSession,
    type: str,
    subject_id: str,
    data: BaseModel | Mapping[str, Any],
    owner_id: str | None = None,
) -> str:
    """Record that `type` happened to `subject_id`; returns the event's `evt_…` id.

    Nothing is emitted if the transaction rolls back. `data` may be a contract model or a
    mapping; money and times become strings as everywhere on the wire.
    """
    if not _TYPE.match(type):
        raise ValueError(f"event type {type!r} is not noun.verb")
    payload = to_jsonable_python(
        data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    )
    if not isinstance(payload, dict):
        raise TypeError("event data must be an object")
    public_id = new_id("evt")
    await session.execute(
        insert(Event).values(
            public_id=public_id,
            type=type,
            subject_id=subject_id,
            owner_id=owner_id,
            data=payload,
        )
    )
    session.info.setdefault(_PENDING, []).append((public_id, subject_id, owner_id))
    return public_id


def _lock_key(stream: Stream) -> int:
    digest = hashlib.blake2b(stream.channel.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


@event.listens_for(Session, "before_commit")
def _number_in_commit_order(session: Session) -> None:
    # A savepoint release is not the commit; the root transaction's commit does this. (A
    # root committed while a savepoint is still open keeps the provisional ids: still
    # unique, only without the cross-transaction ordering. Our unit of work never does it.)
    if session.in_nested_transaction():
        return
    pending: list[tuple[str, str, str | None]] = session.info.pop(_PENDING, [])
    if not pending:
        return
    # Flush everything else first, so that once the locks are taken this transaction
    # only renumbers its own rows and commits: it waits on nobody while holding them.
    session.flush()
    keys = sorted(
        {_lock_key(s) for _, subject, owner in pending for s in streams_of(subject, owner)}
    )
    for key in keys:
        session.execute(select(func.pg_advisory_xact_lock(LOCK_CLASS, key)))
    table = cast(Table, Event.__table__)
    session.execute(
        update(table).where(table.c.public_id == bindparam("pid")).values(id=text("DEFAULT")),
        [{"pid": public_id} for public_id, _, _ in pending],
    )


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


async def read(
    session: AsyncSession, stream: Stream, after: int, limit: int = PAGE
) -> Sequence[StreamEvent]:
    """Committed events of `stream` with id > `after`, oldest first, published or not."""
    rows = await session.scalars(
        select(Event).where(stream.matches(), Event.id > after).order_by(Event.id).limit(limit)
    )
    return [StreamEvent.of(row) for row in rows]


async def latest(session: AsyncSession, stream: Stream) -> int:
    """The id of the newest committed event of `stream`, 0 if it has none."""
    return (
        await session.scalar(select(func.coalesce(func.max(Event.id), 0)).where(stream.matches()))
        or 0
    )
