"""The Tron connector against a watchlist: one question per block with the accounts its USDT
transfers pay, failed calls included, and the transfers a set would have found."""

from __future__ import annotations

from backend.connectors.match import match_key
from backend.connectors.tron import TronConnector
from contract.money import Network
from tests.backend.connectors.tron.conftest import Trond, new_address
from tests.backend.connectors.watchlist import RecordingWatchlist


async def test_a_scan_asks_the_watchlist_for_the_accounts_a_block_pays(
    trond: Trond, tron: TronConnector
) -> None:
    ours, failed_to, stranger = new_address(), new_address(), new_address()
    watchlist = RecordingWatchlist(Network.tron, [ours, failed_to])
    paid, reverted = trond.pay(ours, "2"), trond.fail(failed_to, "100")
    trond.pay(stranger, "3")
    trond.mine(1)
    tip = await tron.tip()

    found = await tron.scan(tip.height, tip.height, watchlist)

    assert found == await tron.scan(tip.height, tip.height, {ours, failed_to})
    assert {(t.txid, t.to_address, t.succeeded) for t in found} == {
        (paid, ours, True),
        (reverted, failed_to, False),
    }
    (asked,) = watchlist.asked
    assert {match_key(Network.tron, a) for a in (ours, failed_to, stranger)} <= asked
