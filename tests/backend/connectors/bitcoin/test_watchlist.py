"""The Bitcoin connector against a watchlist: one question per block (and per mempool look),
with that block's output scripts, and the payments a set would have found."""

from __future__ import annotations

from backend.connectors.bitcoin import BitcoinConnector
from backend.connectors.match import bitcoin_key
from contract.money import Network
from tests.backend.connectors.bitcoin.conftest import Bitcoind, new_address
from tests.backend.connectors.watchlist import RecordingWatchlist


async def test_a_scan_asks_the_watchlist_once_per_block_for_its_scripts(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    ours, stranger = new_address(), new_address()
    watchlist = RecordingWatchlist(Network.bitcoin, [ours])
    bitcoind.pay(stranger, "0.003")
    mempool = await bitcoin.pending(watchlist)
    bitcoind.pay(ours, "0.001")
    assert [t.to_address for t in await bitcoin.pending(watchlist)] == [ours]
    bitcoind.mine(1)
    bitcoind.pay(ours, "0.002")
    bitcoind.mine(1)
    tip = await bitcoin.tip()
    watchlist.asked.clear()

    found = await bitcoin.scan(tip.height - 1, tip.height, watchlist)

    assert mempool == []
    assert found == await bitcoin.scan(tip.height - 1, tip.height, {ours})
    assert [(t.to_address, str(t.amount.amount)) for t in found] == [
        (ours, "0.00100000"),
        (ours, "0.00200000"),
    ]
    assert len(watchlist.asked) == 2  # blocks are read in parallel: in either order
    assert all(bitcoin_key(ours) in asked for asked in watchlist.asked)
    assert sorted(bitcoin_key(stranger) in asked for asked in watchlist.asked) == [False, True]


async def test_the_watchlist_is_asked_about_a_mempool_transaction_once(
    bitcoind: Bitcoind, bitcoin: BitcoinConnector
) -> None:
    ours, later = new_address(), new_address()
    watchlist = RecordingWatchlist(Network.bitcoin, [ours, later])
    first = bitcoind.pay(ours, "0.001")
    assert [t.txid for t in await bitcoin.pending(watchlist)] == [first]
    second = bitcoind.pay(later, "0.002")

    again = await bitcoin.pending(watchlist)

    assert {(t.txid, t.to_address) for t in again} == {(first, ours), (second, later)}
    assert [bitcoin_key(later) in asked for asked in watchlist.asked] == [False, True]
    assert bitcoin_key(ours) not in watchlist.asked[1]
    bitcoind.mine(1)
    assert await bitcoin.pending(watchlist) == []
