"""Tron address checks: base58check with the 0x41 prefix, and the hex forms on the wire."""

from __future__ import annotations

import pytest

from backend.connectors.chain import InvalidAddress
from backend.connectors.tron import validate_address
from backend.connectors.tron.address import from_hex, to_hex

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def test_a_valid_address_comes_back_trimmed() -> None:
    assert validate_address(f" {USDT}\n") == USDT


def test_hex_forms_round_trip() -> None:
    assert to_hex(USDT) == "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
    assert from_hex("41a614f803b6fd780986a42c78ec9c7f77e6ded13c") == USDT
    assert from_hex("000000000000000000000000a614f803b6fd780986a42c78ec9c7f77e6ded13c") == USDT


@pytest.mark.parametrize(
    "address",
    [
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6T",  # checksum
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6",  # length
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",  # Bitcoin
        "0xa614f803b6fd780986a42c78ec9c7f77e6ded13c",  # Ethereum form
        "41a614f803b6fd780986a42c78ec9c7f77e6ded13c",  # hex is for the wire, not for people
        "T0000000000000000000000000000000000",
        "",
    ],
)
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        validate_address(address)
    assert caught.value.param == "address"
