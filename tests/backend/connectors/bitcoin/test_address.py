"""Bitcoin address checks: BIP173/BIP350 and base58 vectors, per network, with reasons."""

from __future__ import annotations

import pytest

from backend.connectors.bitcoin import validate_address
from backend.connectors.chain import InvalidAddress
from backend.settings import BitcoinNetwork

MAIN, TEST, REG = BitcoinNetwork.mainnet, BitcoinNetwork.testnet, BitcoinNetwork.regtest


@pytest.mark.parametrize(
    ("address", "network", "canonical"),
    [
        # BIP173 P2WPKH, upper case is valid bech32 and normalised to lower case.
        (
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            MAIN,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ),
        # BIP173 P2WSH on testnet.
        (
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            TEST,
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        ),
        # BIP350 P2TR (bech32m).
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            MAIN,
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ),
        (
            "bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqdku202",
            REG,
            "bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqdku202",
        ),
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", MAIN, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", MAIN, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
        (
            "  bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\n",
            MAIN,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ),
    ],
)
def test_valid_addresses_come_back_canonical(
    address: str, network: BitcoinNetwork, canonical: str
) -> None:
    assert validate_address(address, network) == canonical


@pytest.mark.parametrize(
    ("address", "network", "reason"),
    [
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", REG, "mainnet address"),
        ("bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqdku202", MAIN, "regtest address"),
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", TEST, "mainnet address"),
        ("bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", MAIN, "checksum or encoding"),  # mixed case
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", MAIN, "checksum or encoding"),
        # BIP350: a witness v1 program with a bech32 (not bech32m) checksum is invalid.
        (
            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
            MAIN,
            "checksum or encoding",
        ),
        ("BC1SW50QGDZ25J", MAIN, "witness version 16"),  # valid bech32m, but a future version
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", MAIN, "checksum"),
        ("0x742d35Cc6634C0532925a3b844Bc454e4438f44e", MAIN, "checksum"),
        ("", MAIN, "length"),
    ],
)
def test_invalid_addresses_say_why(address: str, network: BitcoinNetwork, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason) as caught:
        validate_address(address, network)
    assert caught.value.param == "address"
