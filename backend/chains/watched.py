"""The addresses a watcher looks for: asked of PostgreSQL once per scanned block, never held.

A block carries a few thousand recipients (Bitcoin output scripts, Ethereum and Tron 20-byte
accounts); their match keys go to one indexed query, `match_key = ANY(:keys)` on the unique
(network, match_key) index, which answers the few that are ours. So memory does not grow
with the watched set and a watcher starts without reading it. Invariant: a lookup sees every
address committed before it began, and every lookup of a tick begins after the tick read
the node's tip (an address is shown to a payer only after its commit, so any payment in
those blocks went to an address the lookup sees).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.keys.models import ChainAddress
from contract.money import Network

_KEYS = bindparam("keys", type_=ARRAY(String()))


class WatchedAddresses:
    """A `Watchlist` (backend.connectors.chain) of one network's addresses in the database."""

    def __init__(self, network: Network, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.network = network
        self.sessionmaker = sessionmaker
        self._query = select(ChainAddress.match_key, ChainAddress.address).where(
            ChainAddress.network == network, ChainAddress.match_key == any_(_KEYS)
        )

    async def lookup(self, keys: Collection[str]) -> Mapping[str, str]:
        """Our addresses among `keys`, by key (reads only, on a pooled connection of its own:
        a scan asks for several blocks at once)."""
        if not keys:
            return {}
        async with self.sessionmaker() as session:
            rows = await session.execute(self._query, {"keys": list(keys)})
        return {row.match_key: row.address for row in rows}
