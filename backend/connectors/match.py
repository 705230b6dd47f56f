"""Match keys: each address in the form a block carries it, so a block's recipients are
looked up among millions of addresses without converting any of them.

Bitcoin: the output script (scriptPubKey) in hex. Ethereum and Tron: the 20-byte account in
lower-case hex, as logs and calldata carry it. Invariant: `match_key` is a pure function of
(network, address), None only for a string that no block of the network can pay.
"""

from __future__ import annotations

from backend.connectors.bitcoin.address import output_script
from backend.connectors.chain import InvalidAddress
from backend.connectors.ethereum.address import validate_address as ethereum_address
from backend.connectors.tron.address import tvm_account
from backend.settings import BitcoinNetwork
from contract.money import Network


def bitcoin_key(address: str) -> str | None:
    """The output script of a Bitcoin address of any network (scripts do not name one)."""
    for network in BitcoinNetwork:
        try:
            return output_script(address, network).hex()
        except InvalidAddress:
            continue
    return None


def ethereum_key(address: str) -> str | None:
    try:
        return ethereum_address(address)[2:].lower()
    except InvalidAddress:
        return None


def match_key(network: Network | str, address: str) -> str | None:
    network = Network(network)
    if network is Network.bitcoin:
        return bitcoin_key(address)
    if network is Network.ethereum:
        return ethereum_key(address)
    return tvm_account(address)
