"""The quotes table: a priced offer, owned by one user, held until `expires_at`, consumed at
most once.

Invariants (DB CHECKs): amounts and the rate are positive or zero as they must be; a quote
is `open` or `consumed`, and consumed exactly when it carries a consumption time and
purpose; it expires after it was made. "Expired" is not stored: it is `open` past
`expires_at`, so no job has to sweep quotes for the rule to hold.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from contract.money import SUPPORTED
from contract.quotes import QuoteFlow, QuoteSide


class QuoteState(StrEnum):
    open = "open"
    consumed = "consumed"


# A quote is consumed once; "expired" is open past expires_at, never a move.
ALLOWED: dict[QuoteState, frozenset[QuoteState]] = {
    QuoteState.open: frozenset({QuoteState.consumed}),
}


class ConsumedBy(StrEnum):
    """What may consume a quote, and the flow of quote each one takes."""

    buy_order = "buy_order"
    sell_order = "sell_order"
    invoice = "invoice"


FLOW_OF: dict[ConsumedBy, QuoteFlow] = {
    ConsumedBy.buy_order: QuoteFlow.buy,
    ConsumedBy.sell_order: QuoteFlow.sell,
    ConsumedBy.invoice: QuoteFlow.invoice,
}


def _in(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


_PAIRS = " OR ".join(f"(asset = '{a}' AND network = '{n}')" for a, n in sorted(SUPPORTED))


class Quote(Base):
    __tablename__ = "quotes"
    __table_args__ = (
        CheckConstraint(_in("flow", QuoteFlow), name="flow_known"),
        CheckConstraint(_in("side", QuoteSide), name="side_known"),
        CheckConstraint(_PAIRS, name="asset_on_network"),
        CheckConstraint(_in("status", QuoteState), name="status_known"),
        CheckConstraint(
            "requested_amount > 0 AND amount > 0 AND rate > 0 AND subtotal >= 0"
            " AND fee_total >= 0 AND total >= 0",
            name="amounts_sane",
        ),
        CheckConstraint(
            f"(status = '{QuoteState.consumed}')"
            " = (consumed_at IS NOT NULL AND consumed_by IS NOT NULL)",
            name="consumed_consistent",
        ),
        CheckConstraint(
            f"consumed_by IS NULL OR {_in('consumed_by', ConsumedBy)}", name="consumed_by_known"
        ),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        Index("ix_quotes_owner_id_created_at", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"))
    flow: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(8))
    asset: Mapped[str] = mapped_column(String(8))
    network: Mapped[str] = mapped_column(String(16))
    requested_amount: Mapped[Decimal] = mapped_column(Numeric())
    requested_currency: Mapped[str] = mapped_column(String(8))
    # KES per one unit of the asset, as locked.
    rate: Mapped[Decimal] = mapped_column(Numeric())
    rate_sources: Mapped[int]
    rate_as_of: Mapped[datetime]
    # `amount` is in the asset; subtotal, fee_total and total are KES.
    amount: Mapped[Decimal] = mapped_column(Numeric())
    subtotal: Mapped[Decimal] = mapped_column(Numeric())
    fee_total: Mapped[Decimal] = mapped_column(Numeric())
    total: Mapped[Decimal] = mapped_column(Numeric())
    # The fee lines as shown: [{"kind", "amount": {"amount", "asset"}, "description"}].
    fees: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default=QuoteState.open)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]
    consumed_by: Mapped[str | None] = mapped_column(String(16))
    # The order or invoice that consumed it, so a retried consumer is recognised.
    consumed_reference: Mapped[str | None] = mapped_column(String(64))
