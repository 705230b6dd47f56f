"""The dev chain's USDT: deploy our TestUSDT fixture on anvil, and pay from a dev account.

Invariants: the token is deployed through the CREATE2 factory anvil ships with, so its
address depends only on the bytecode and the minter: deploying again on the same chain
finds the token already there and changes nothing. Payments here are signed with
anvil's public dev keys, never with ours (those live only in backend.keys.signer).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from backend.connectors.ethereum import erc20
from backend.connectors.ethereum.client import EthereumConnector
from contract.money import Asset, Money

FIXTURE = Path(__file__).with_name("contracts") / "TestUSDT.json"
# Arachnid's deterministic deployment proxy: present on anvil by default and on most chains.
CREATE2_FACTORY = to_checksum_address("0x4e59b44847b379578588920ca78fbf26c0b4956c")
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
    chain: EthereumConnector, key: str, to: str, *, data: bytes = b"", value_wei: int = 0
) -> str:
    """Sign with a dev key, send, wait for the block; returns the txid or raises."""
    sender = Account.from_key(key)
    params = await chain.prepare(sender.address, to, value_wei=value_wei, data=data)
    signed = Account.sign_transaction(params.unsigned(to, value_wei, data), key)
    txid = await chain.broadcast(signed.raw_transaction.to_0x_hex())
    for _ in range(300):  # anvil mines on arrival; a node with a block time takes longer
        receipt = await chain.receipt(txid)
        if receipt is not None:
            if not receipt.succeeded:
                raise RuntimeError(f"transaction {txid} reverted")
            return txid
        await asyncio.sleep(0.1)
    raise RuntimeError(f"transaction {txid} was not mined within 30 s")


async def deploy_test_usdt(
    rpc_url: str, deployer_key: str, *, mint: Money = Money.of("1000000", Asset.USDT)
) -> str:
    """Deploy TestUSDT (minter: the deployer) and mint `mint` to the deployer, once.

    Returns the token address. On a chain that already has it, returns it untouched.
    """
    minter = Account.from_key(deployer_key).address
    token = predicted_token_address(minter)
    chain = EthereumConnector(rpc_url, token)
    try:
        if await chain.w3.eth.get_code(token):
            return token
        if not await chain.w3.eth.get_code(CREATE2_FACTORY):
            raise RuntimeError(f"no CREATE2 factory at {CREATE2_FACTORY} on {rpc_url}")
        await _send(chain, deployer_key, CREATE2_FACTORY, data=SALT + _init_code(minter))
        if not await chain.w3.eth.get_code(token):
            raise RuntimeError("TestUSDT deployment left no code at the expected address")
        mint_call = MINT_SELECTOR + encode(["address", "uint256"], [minter, mint.minor_units()])
        await _send(chain, deployer_key, token, data=mint_call)
        return token
    finally:
        await chain.aclose()


async def send_test_usdt(rpc_url: str, payer_key: str, token: str, to: str, amount: Money) -> str:
    """Pay `amount` of the token from a dev account; returns the txid once mined."""
    if amount.asset is not Asset.USDT:
        raise ValueError("TestUSDT moves USDT")
    chain = EthereumConnector(rpc_url, token)
    try:
        data = erc20.transfer_calldata(to, amount.minor_units())
        return await _send(chain, payer_key, token, data=data)
    finally:
        await chain.aclose()


async def send_ether(rpc_url: str, payer_key: str, to: str, amount: Money) -> str:
    """Send ETH from a dev account (gas money for one of our addresses); txid once mined."""
    if amount.asset is not Asset.ETH:
        raise ValueError("send_ether moves ETH")
    # The token address is not used for a plain payment; any valid address will do.
    chain = EthereumConnector(rpc_url, CREATE2_FACTORY)
    try:
        return await _send(chain, payer_key, to, value_wei=amount.minor_units())
    finally:
        await chain.aclose()
