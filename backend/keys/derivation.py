"""Public HD derivation: which BIP-44/84 account each network uses, and addresses from xpubs.

Invariants: paths are BIP-84 m/84'/c'/0'/0/i for Bitcoin (c = 0 on mainnet, 1 on testnet
and regtest), m/44'/60'/0'/0/i for Ethereum and m/44'/195'/0'/0/i for Tron; derivation
here starts from an account-level extended *public* key, so no private key is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bip_utils import Bip44, Bip44Changes, Bip44Coins, Bip84, Bip84Coins
from bip_utils.bip.bip44_base import Bip44Base

from backend.settings import BitcoinNetwork
from contract.money import Network

_BITCOIN_COINS = {
    BitcoinNetwork.mainnet: Bip84Coins.BITCOIN,
    BitcoinNetwork.testnet: Bip84Coins.BITCOIN_TESTNET,
    BitcoinNetwork.regtest: Bip84Coins.BITCOIN_REGTEST,
}


@dataclass(frozen=True)
class Scheme:
    """How one network's keys are derived: the BIP class, its coin and the account path."""

    network: Network
    purpose: type[Bip44Base]
    coin: Bip44Coins | Bip84Coins
    path: str

    @property
    def coin_name(self) -> str:
        return str(self.coin.name)


def scheme(network: Network, bitcoin_network: BitcoinNetwork) -> Scheme:
    if network is Network.bitcoin:
        coin_type = 0 if bitcoin_network is BitcoinNetwork.mainnet else 1
        return Scheme(network, Bip84, _BITCOIN_COINS[bitcoin_network], f"m/84'/{coin_type}'/0'")
    if network is Network.ethereum:
        return Scheme(network, Bip44, Bip44Coins.ETHEREUM, "m/44'/60'/0'")
    return Scheme(network, Bip44, Bip44Coins.TRON, "m/44'/195'/0'")


@lru_cache(maxsize=16)
def _receive_chain(scheme: Scheme, xpub: str) -> Bip44Base:
    # The external (receive) chain node, m/…/0, parsed once; every address is one step below.
    return scheme.purpose.FromExtendedKey(xpub, scheme.coin).Change(Bip44Changes.CHAIN_EXT)


def address_at(scheme: Scheme, xpub: str, index: int) -> str:
    """The address at `index` on the receive chain: bech32, EIP-55 checksummed hex, or base58."""
    return str(_receive_chain(scheme, xpub).AddressIndex(index).PublicKey().ToAddress())
