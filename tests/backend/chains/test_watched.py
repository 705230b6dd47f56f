"""The watchers' watchlist: addresses handed out carry their match key, and a lookup answers
a network's own addresses among any keys, by key, straight from PostgreSQL."""

from __future__ import annotations

import os

import pytest

from backend.chains.watched import WatchedAddresses
from backend.connectors.match import match_key
from backend.runtime import Runtime
from contract.money import Network
from tests.backend.chains.conftest import Chains


@pytest.mark.parametrize("network", list(Network))
async def test_a_handed_out_address_is_found_by_its_match_key_on_its_network_only(
    runtime: Runtime, chains: Chains, network: Network
) -> None:
    address = await chains.address(network)
    other = await chains.address(Network.tron if network is not Network.tron else Network.bitcoin)
    key = match_key(network, address.address)
    stranger = os.urandom(20).hex()
    watched = WatchedAddresses(network, runtime.sessionmaker)

    assert address.match_key == key is not None
    assert await watched.lookup({key, stranger, str(other.match_key)}) == {key: address.address}
    assert await watched.lookup({stranger}) == {}
    assert await watched.lookup(set()) == {}
