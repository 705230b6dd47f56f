"""The dev chain's USDT: deploy our TestUSDT fixture on anvil, and pay from a dev account.

Invariants: the token is deployed through the CREATE2 factory anvil ships with, so its
address depends only on the bytecode and the minter: deploying again on the same chain
finds the token already there and changes nothing. Payments here are signed with
anvil's public dev keys, never with ours (those live only in backend.keys.signer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3

from backend.connectors.ethereum import erc20
from contract.money import Asset, Money

FIXTURE = Path(__file__).with_name("contracts") / "TestUSDT.json"
# Arachnid's deterministic deployment proxy: present on anvil by default and on most chains.
CREATE2_FACTORY = "0x4e59b44847b379578588920ca78fbf26c0b4956c"
SALT = keccak(text="qpeapay/TestUSDT")
MINT_SELECTOR = keccak(text="mint(address,uint256)")[:4]


def load_test_usdt() -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads(FIXTURE.read_text())
    return fixture


def _init_code(minter: str) -> bytes:
    return bytes(HexBytes(load_test_usdt()["bytecode"])) + encode(["address"], [minter])


def predicted_token_address(minter: str) -> ChecksumAddress:
    """Where `deploy_test_usdt` puts the token for this minter (CREATE2: EIP-1014)."""
    digest = keccak(b"\xff" + bytes(HexBytes(CREATE2_FACTORY)) + SALT + keccak(_init_code(minter)))
    return to_checksum_address(digest[12:])


async def _send(
    w3: AsyncWeb3[AsyncHTTPProvider], key: str, to: str, *, data: bytes = b"", value: int = 0
) -> str:
    """Sign with a dev key, send, wait for the block; returns the txid or raises."""
    sender = Account.from_key(key)
    request: Any = {
        "from": sender.address,
        "to": to_checksum_address(to),
        "value": value,
        "data": data,
    }
    latest = await w3.eth.get_block("latest")
    priority = await w3.eth.max_priority_fee
    signed = Account.sign_transaction(
        {
            **request,
            "type": 2,
            "chainId": await w3.eth.chain_id,
            "nonce": await w3.eth.get_transaction_count(sender.address, "pending"),
            "gas": await w3.eth.estimate_gas(request) * 6 // 5,
            "maxFeePerGas": 2 * int(latest.get("baseFeePerGas", 0)) + priority,
            "maxPriorityFeePerGas": priority,
        },
        key,
    )
    txid = await w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = await w3.eth.wait_for_transaction_receipt(txid, timeout=30)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction {txid.to_0x_hex()} reverted")
    return txid.to_0x_hex()


def _web3(rpc_url: str) -> AsyncWeb3[AsyncHTTPProvider]:
    return AsyncWeb3(AsyncHTTPProvider(rpc_url))


async def deploy_test_usdt(
    rpc_url: str, deployer_key: str, *, mint: Money = Money.of("1000000", Asset.USDT)
) -> str:
    """Deploy TestUSDT (minter: the deployer) and mint `mint` to the deployer, once.

    Returns the token address. On a chain that already has it, returns it untouched.
    """
    w3 = _web3(rpc_url)
    try:
        minter = Account.from_key(deployer_key).address
        token = predicted_token_address(minter)
        if await w3.eth.get_code(token):
            return token
        if not await w3.eth.get_code(to_checksum_address(CREATE2_FACTORY)):
            raise RuntimeError(f"no CREATE2 factory at {CREATE2_FACTORY} on {rpc_url}")
        await _send(w3, deployer_key, CREATE2_FACTORY, data=SALT + _init_code(minter))
        if not await w3.eth.get_code(token):
            raise RuntimeError("TestUSDT deployment left no code at the expected address")
        mint_call = MINT_SELECTOR + encode(["address", "uint256"], [minter, mint.minor_units()])
        await _send(w3, deployer_key, token, data=mint_call)
        return token
    finally:
        await w3.provider.disconnect()


async def send_test_usdt(rpc_url: str, payer_key: str, token: str, to: str, amount: Money) -> str:
    """Pay `amount` of the token from a dev account; returns the txid once mined."""
    if amount.asset is not Asset.USDT:
        raise ValueError("TestUSDT moves USDT")
    w3 = _web3(rpc_url)
    try:
        return await _send(
            w3, payer_key, token, data=erc20.transfer_calldata(to, amount.minor_units())
        )
    finally:
        await w3.provider.disconnect()


async def send_ether(rpc_url: str, payer_key: str, to: str, amount: Money) -> str:
    """Send ETH from a dev account (gas money for one of our addresses); txid once mined."""
    if amount.asset is not Asset.ETH:
        raise ValueError("send_ether moves ETH")
    w3 = _web3(rpc_url)
    try:
        return await _send(w3, payer_key, to, value=amount.minor_units())
    finally:
        await w3.provider.disconnect()

