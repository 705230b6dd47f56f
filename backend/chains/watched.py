"""The set of our addresses on one network, kept in memory and refreshed cheaply each tick.

Invariant: after `refresh` the set holds every address committed before it began. Rows
are never deleted, so a count that matches ours means nothing is new; new rows usually
carry the highest derivation indexes (one sequence per network) and are fetched alone, and
when a slower transaction committed a lower index late, the counts disagree and the whole
set is read again.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.keys.models import ChainAddress
from contract.money import Network


class WatchedAddresses:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.addresses: set[str] = set()
        self._max_index = -1

    def __len__(self) -> int:
        return len(self.addresses)

    async def refresh(self, session: AsyncSession) -> None:
        on_network = ChainAddress.network == self.network
        count, max_index = (
            await session.execute(
                select(func.count(), func.max(ChainAddress.derivation_index)).where(on_network)
            )
        ).one()
        if count == len(self.addresses):
            return
        query = select(ChainAddress.address, ChainAddress.derivation_index).where(on_network)
        rows = (
            await session.execute(query.where(ChainAddress.derivation_index > self._max_index))
        ).all()
        self.addresses.update(row.address for row in rows)
        if len(self.addresses) < count:
            rows = (await session.execute(query)).all()
            self.addresses = {row.address for row in rows}
        self._max_index = max(self._max_index, max_index if max_index is not None else -1)
