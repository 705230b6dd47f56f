"""The one interface every blockchain connector implements, and its exception tree.

Connectors speak to a node (Bitcoin Core RPC, an Ethereum JSON-RPC node, TronGrid) and
return plain values; watchers and services decide what they mean. A connector never
touches the database and never sees a private key (the signer hands it signed bytes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

from backend.errors import QpeapayError
from contract.money import Asset, Money, Network


@dataclass(frozen=True)
class BlockRef:
    height: int
    hash: str
    parent_hash: str


@dataclass(frozen=True)
class Transfer:
    """Value arriving at one of our addresses, as seen in one block (or the mempool).

    Unique on (network, txid, index): `index` is the output number (BTC vout) or the log
    index (ERC-20 / TRC-20 event) so one transaction paying several addresses yields
    several transfers.
    """

    network: Network
    txid: str
    index: int
    to_address: str
    amount: Money
    block: BlockRef | None
    from_address: str | None = None
    # False for a transaction that landed in a block but failed (Tron REVERT): never credit.
    succeeded: bool = True

    @property
    def asset(self) -> Asset:
        return self.amount.asset


@dataclass(frozen=True)
class FeeEstimate:
    """What sending one ordinary transfer costs now, in the network's native asset."""

    network: Network
    # BTC: sat/vB; ETH: gas price in wei; TRON: energy price in sun. Whole units, exact.
    unit_price: int
    unit: str
    typical_cost: Money


@runtime_checkable
class Watchlist(Protocol):
    """Our addresses on one network, too many to hold: asked once per block for the match
    keys (backend.connectors.match) the block carries, it answers those that are ours, by
    key, with the address as we store it."""

    async def lookup(self, keys: Collection[str]) -> Mapping[str, str]: ...


# What a scan looks for: a few addresses in hand (tools, tests) or a watchlist.
Watched = Collection[str] | Watchlist


class ChainConnector(Protocol):
    network: Network

    async def tip(self) -> BlockRef: ...

    async def block_at(self, height: int) -> BlockRef: ...

    async def scan(self, start_height: int, end_height: int, addresses: Watched) -> list[Transfer]:
        """Transfers to `addresses` in blocks start..end inclusive (a set gives O(1) lookups)."""
        ...

    async def pending(self, addresses: Watched) -> list[Transfer]:
        """Transfers to `addresses` not yet in any block (`block` is None), e.g. Bitcoin's
        mempool: shown as "seen", never credited; one may vanish (RBF, eviction).
        A network whose node shows no pending transfers returns []."""
        ...

    async def confirmations(self, txid: str) -> int:
        """Blocks on top of the transaction's block, counting it (0 = unconfirmed or gone)."""
        ...

    async def broadcast(self, signed_tx: str) -> str:
        """Send a signed transaction (hex or JSON as the network takes it); returns txid."""
        ...

    async def balance(self, address: str, asset: Asset) -> Money: ...

    async def estimate_fee(self) -> FeeEstimate: ...


async def scan_in_windows(
    start_height: int,
    end_height: int,
    window: int,
    read: Callable[[int], Awaitable[Iterable[Transfer]]],
) -> list[Transfer]:
    """`read(height)` for blocks start..end inclusive, `window` blocks at a time in parallel
    (a node answers a few concurrent calls faster than one after another), in block order."""
    transfers: list[Transfer] = []
    heights = range(start_height, end_height + 1)
    for first in range(0, len(heights), window):
        found = await asyncio.gather(*(read(height) for height in heights[first : first + window]))
        for block_transfers in found:
            transfers.extend(block_transfers)
    return transfers


K = TypeVar("K", bound=Hashable)


class WatchIndex(Generic[K]):
    """The watched addresses keyed by the form a block carries them in (an output script, a
    hex account), so a block is matched without converting any of its addresses.

    Converting 100,000 addresses takes seconds and the watchers pass the same set every
    tick, growing it in place: the index is kept while the set compares equal to the last
    one (a C-level pass over the set, a few ms), and when it changed only addresses not
    seen before are converted. `key_of` answers None for an address that can never be paid
    on this network; it then matches nothing."""

    def __init__(self, key_of: Callable[[str], K | None]) -> None:
        self._key_of = key_of
        self._addresses: frozenset[str] = frozenset()
        self._index: dict[K, str] = {}

    def __call__(self, addresses: Collection[str]) -> Mapping[K, str]:
        if addresses == self._addresses:
            return self._index
        known = {address: key for key, address in self._index.items()}
        index: dict[K, str] = {}
        for address in addresses:
            key = known.get(address)
            if key is None:
                key = self._key_of(address)
            if key is not None:
                index[key] = address
        # A new dict, never the old one changed: a scan still running keeps a whole one.
        self._addresses, self._index = frozenset(addresses), index
        return index


async def resolve(
    addresses: Watched, index: WatchIndex[str], keys: Iterable[str]
) -> Mapping[str, str]:
    """Watched addresses by match key: the whole in-memory index of a collection, or what
    the watchlist answers for the `keys` a block carries (a generator, read only then)."""
    if isinstance(addresses, Watchlist):
        wanted = set(keys)
        return await addresses.lookup(wanted) if wanted else {}
    return index(addresses)


class ChainError(QpeapayError):
    status, type, code = 502, "api_error", "chain_error"
    message = "The blockchain node answered with an error."


class NodeUnavailable(ChainError):
    status, code = 503, "node_unavailable"
    message = "The blockchain node cannot be reached."


class BroadcastRejected(ChainError):
    status, type, code = 422, "invalid_request_error", "broadcast_rejected"
    message = "The network refused the transaction."


class TransactionNotFound(ChainError):
    status, type, code = 404, "invalid_request_error", "transaction_not_found"
    message = "The node does not know this transaction."


class BlockNotFound(ChainError):
    """No block at that height (above the tip, e.g. after a reorg to a shorter chain)."""

    status, type, code = 404, "invalid_request_error", "block_not_found"
    message = "The node has no block at this height."


class InvalidAddress(QpeapayError):
    status, type, code = 400, "invalid_request_error", "invalid_address"
    message = "This is not a valid address for the network."
