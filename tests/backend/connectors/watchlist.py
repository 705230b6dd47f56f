"""A watchlist held in a dict that records what it was asked: what the connectors' scans
see when a watcher passes its database-backed one."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from backend.connectors.match import match_key
from contract.money import Network


class RecordingWatchlist:
    def __init__(self, network: Network, addresses: Collection[str]) -> None:
        self.by_key = {match_key(network, a): a for a in addresses}
        self.asked: list[set[str]] = []

    async def lookup(self, keys: Collection[str]) -> Mapping[str, str]:
        self.asked.append(set(keys))
        return {key: self.by_key[key] for key in keys if key in self.by_key}
