"""Tron connector: USDT (TRC-20) payments to our addresses, over TronGrid or java-tron, with tronpy.

Detection reads each block's receipts with `wallet/gettransactioninfobyblocknum` (one call
per block, every transaction's result and logs) and matches USDT `Transfer` logs against a
set of watched addresses by 20-byte account (the watchers' watchlist is asked for the
block's recipients, one indexed query per block), so a million addresses cost no more
than ten. Logs, not calldata:
they also show USDT moved by other contracts (exchange multisigs, routers), and a log exists
only if the transfer happened. TronGrid's v1 `/accounts/{a}/transactions/trc20` was the
alternative: one request per address per poll, no log index, and only TronGrid serves it
(a plain java-tron node does not). The block itself (`getblockbynum`) gives the hash and
parent for reorg checks, and the calldata of failed transfers, which leave no log.

Invariants: a failed transfer to a watched address (REVERT, OUT_OF_ENERGY: it sits in a
block, its fee was burned, no token moved) comes back with `succeeded=False`, read from its
calldata, and must never be credited; `confirmations` reaches FINAL_CONFIRMATIONS (19) only
once the transaction's block is solidified (the solid head is final in DPoS: 19 of 27
witnesses built on it), and a block above the solid head is re-read to make sure the
transaction is still in it; plain TRX sent to a deposit address is not scanned for (TRX is
held only to pay energy); every failure leaves as a `ChainError`, and an unreachable or
overloaded node is `NodeUnavailable` after retries with backoff.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
from tronpy import AsyncTron
from tronpy.exceptions import AddressNotFound, ApiError, BugInJavaTron, TransactionError, TvmError
from tronpy.exceptions import BlockNotFound as TronBlockNotFound
from tronpy.exceptions import TransactionNotFound as TronTransactionNotFound
from tronpy.exceptions import UnknownError as TronUnknownError
from tronpy.exceptions import ValidationError as TronValidationError
from tronpy.providers.async_http import AsyncHTTPProvider

from backend.connectors.chain import (
    BlockNotFound,
    BlockRef,
    BroadcastRejected,
    ChainError,
    FeeEstimate,
    NodeUnavailable,
    TransactionNotFound,
    Transfer,
    Watched,
    WatchIndex,
    resolve,
    scan_in_windows,
)
from backend.connectors.retry import Transient, retrying
from backend.connectors.tron.address import from_hex, to_hex, tvm_account, validate_address
from backend.connectors.tron.transaction import TronTxParams
from backend.settings import Settings
from contract.money import Asset, Money, Network

T = TypeVar("T")

TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TRANSFER_SELECTOR = "a9059cbb"  # transfer(address,uint256)
TRANSFER_FROM_SELECTOR = "23b872dd"  # transferFrom(address,address,uint256)
# Confirmations that mean "solidified"; a block above the solid head counts at most one less.
FINAL_CONFIRMATIONS = 19
# A USDT transfer to an address holding no USDT yet (the dearer case), and its bandwidth.
USDT_TRANSFER_ENERGY = 130_285
USDT_TRANSFER_BANDWIDTH = 345
NULL_HASH = "0" * 64
# Broadcast answers that say "try again", not "this transaction is wrong".
_BUSY_CODES = frozenset({"SERVER_BUSY", "NO_CONNECTION", "NOT_ENOUGH_EFFECTIVE_CONNECTION"})
_REFUSALS = (
    ApiError,
    BugInJavaTron,
    TransactionError,
    TvmError,
    TronUnknownError,
    TronValidationError,
)
_REORG_RETRIES = 3


@dataclass(frozen=True)
class TronReceipt:
    """What the chain says a transaction of ours did: its block, whether it succeeded, and
    the TRX it burnt. A contract call says SUCCESS or why not (REVERT, OUT_OF_ENERGY) and
    burns its fee either way; a plain TRX transfer carries no result and cannot fail once
    in a block."""

    txid: str
    block_height: int
    succeeded: bool
    fee: Money


class _Busy(Exception):
    """The node answered, but asks to be asked again later."""


class TronConnector:
    network = Network.tron

    def __init__(
        self,
        api_url: str,
        usdt_contract: str,
        *,
        api_key: str = "",
        timeout_s: float = 10.0,
        concurrency: int = 8,
        attempts: int = 4,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
        scan_window: int = 4,
    ) -> None:
        url = api_url if api_url.endswith("/") else api_url + "/"
        if "trongrid" in url and not api_key:
            # tronpy would fall back to its public shared keys, rate-limited for everyone.
            raise ValueError("TRON_API_KEY is required with TronGrid")
        self.usdt = validate_address(usdt_contract)
        self._usdt_hex = to_hex(self.usdt)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.scan_window = scan_window
        self._slots = asyncio.Semaphore(concurrency)
        provider = AsyncHTTPProvider(url, timeout=timeout_s, api_key=api_key or None)
        self.client = AsyncTron(provider)
        self._url = url
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["TRON-PRO-API-KEY"] = api_key
        # 20-byte hex account (as TVM logs carry it) → watched base58 address.
        self._accounts = WatchIndex(tvm_account)

    @classmethod
    def from_settings(cls, settings: Settings) -> TronConnector:
        return cls(
            settings.tron_api_url,
            settings.tron_usdt_contract,
            api_key=settings.tron_api_key.get_secret_value(),
        )

    async def aclose(self) -> None:
        await self.client.close()

    async def ready(self) -> str:
        """A readiness probe: the node answers and knows our USDT contract."""
        await self.tip()
        contract = await self._request("wallet/getcontract", {"value": self.usdt, "visible": True})
        if not contract:
            raise ChainError("The Tron node does not know the USDT contract.", reason=self.usdt)
        return "ok"

    def validate_address(self, address: str) -> str:
        return validate_address(address)

    async def _call(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        """One API call with retries on transport trouble; an answer that is an error is not
        retried. The node's own words travel in `extra["reason"]`, never in the message."""

        async def attempt() -> T:
            try:
                async with self._slots:
                    return await request()
            except TronBlockNotFound:
                raise BlockNotFound() from None
            except TronTransactionNotFound:
                raise TransactionNotFound() from None
            except _REFUSALS as exc:
                raise ChainError(f"The Tron node refused {what}.", reason=str(exc)) from None
            except httpx.HTTPStatusError as exc:
                status = exc.response.status_code
                if status != 429 and status < 500:
                    raise ChainError(
                        f"The Tron node refused {what} (HTTP {status}).", reason=str(status)
                    ) from None
                raise _unavailable(exc) from exc
            except (httpx.TransportError, json.JSONDecodeError, _Busy) as exc:
                # Unreachable, timed out, an HTML error page, or busy.
                raise _unavailable(exc) from exc

        return await retrying(
            attempt,
            network="tron",
            method=what,
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
        )

    async def _request(self, path: str, body: dict[str, Any]) -> Any:
        """A raw java-tron call (for what AsyncTron does not wrap, and for blocks and receipts:
        megabytes of JSON per block, which orjson reads several times faster than the
        standard library that tronpy's provider uses; java-tron's numbers are all int64, so
        nothing arrives as a float)."""

        async def post() -> Any:
            response = await self.client.provider.client.post(
                self._url + path, content=orjson.dumps(body), headers=self._headers
            )
            response.raise_for_status()
            reply = orjson.loads(response.content)
            if isinstance(reply, dict) and "Error" in reply:
                raise ApiError(reply["Error"])
            return reply

        return await self._call(path, post)

    # ------------------------------------------------------------------------- blocks

    async def tip(self) -> BlockRef:
        return _ref(await self._call("getnowblock", self.client.get_latest_block))

    async def solidified_height(self) -> int:
        """The solid head: blocks at or below it are final."""
        return (await self._heads())[1]

    async def _heads(self) -> tuple[int, int]:
        info = await self._request("wallet/getnodeinfo", {})
        return _number(info["block"]), _number(info["solidityBlock"])

    async def block_at(self, height: int) -> BlockRef:
        return _ref(await self._block(height))

    async def _block(self, height: int) -> dict[str, Any]:
        block = await self._request("wallet/getblockbynum", {"num": height, "visible": False})
        if not block:  # java-tron answers {} above its head
            raise BlockNotFound()
        return dict(block)

    async def scan(self, start_height: int, end_height: int, addresses: Watched) -> list[Transfer]:
        """USDT transfers to `addresses` in blocks start..end, failed ones included (flagged)."""
        return await scan_in_windows(
            start_height, end_height, self.scan_window, lambda h: self._scan_block(h, addresses)
        )

    async def _scan_block(self, height: int, addresses: Watched) -> list[Transfer]:
        for _ in range(_REORG_RETRIES):
            block, infos = await asyncio.gather(
                self._block(height),
                self._request("wallet/gettransactioninfobyblocknum", {"num": height}),
            )
            receipts: list[dict[str, Any]] = infos if isinstance(infos, list) else []
            in_block = sorted(tx["txID"] for tx in block.get("transactions", []))
            # Two calls, one block: if a reorg replaced it in between, read both again.
            if sorted(info["id"] for info in receipts) == in_block:
                accounts = await resolve(
                    addresses, self._accounts, self._recipients(block, receipts)
                )
                return list(self._match(block, receipts, accounts))
        raise ChainError("The Tron chain kept reorganising.", reason=f"height {height}")

    def _recipients(self, block: dict[str, Any], receipts: list[dict[str, Any]]) -> Iterator[str]:
        """The 20-byte hex accounts the block's USDT transfers (and failed calls) pay."""
        usdt20 = self._usdt_hex[2:]
        failed = set()
        for info in receipts:
            for entry in info.get("log", []):
                topics = entry.get("topics", [])
                if (
                    entry.get("address") == usdt20
                    and len(topics) == 3
                    and topics[0] == TRANSFER_TOPIC
                ):
                    yield topics[2][-40:].lower()
            if (
                info.get("result") == "FAILED"
                or info.get("receipt", {}).get("result", "SUCCESS") != "SUCCESS"
            ):
                failed.add(info["id"])
        for tx in block.get("transactions", []):
            if tx["txID"] in failed:
                call = _usdt_call(tx, self._usdt_hex)
                account = None if call is None else tvm_account(call[1])
                if account is not None:
                    yield account

    def _match(
        self, block: dict[str, Any], receipts: list[dict[str, Any]], accounts: Mapping[str, str]
    ) -> Iterator[Transfer]:
        """`accounts`: watched addresses by 20-byte hex account, so a log's recipient is
        looked up as it stands, not turned into base58 first."""
        ref = _ref(block)
        calls = {tx["txID"]: tx for tx in block.get("transactions", [])}
        usdt20 = self._usdt_hex[2:]
        for info in receipts:
            txid = info["id"]
            for index, entry in enumerate(info.get("log", [])):
                topics = entry.get("topics", [])
                if entry.get("address") != usdt20 or len(topics) != 3:
                    continue
                to = accounts.get(topics[2][-40:].lower())
                if topics[0] != TRANSFER_TOPIC or to is None:
                    continue
                yield self._transfer(
                    txid,
                    index,
                    to,
                    int(entry.get("data") or "0", 16),
                    ref,
                    from_hex(topics[1]),
                    succeeded=True,
                )
            failed = (
                info.get("result") == "FAILED"
                or info.get("receipt", {}).get("result", "SUCCESS") != "SUCCESS"
            )
            if failed and txid in calls:
                call = _usdt_call(calls[txid], self._usdt_hex)
                if call is not None and tvm_account(call[1]) in accounts:
                    sender, to, units = call
                    yield self._transfer(txid, 0, to, units, ref, sender, succeeded=False)

    def _transfer(
        self,
        txid: str,
        index: int,
        to: str,
        units: int,
        block: BlockRef | None,
        sender: str | None,
        *,
        succeeded: bool,
    ) -> Transfer:
        return Transfer(
            network=self.network,
            txid=txid,
            index=index,
            to_address=to,
            amount=Money.from_minor_units(units, Asset.USDT),
            block=block,
            from_address=sender,
            succeeded=succeeded,
        )

    async def pending(self, addresses: Watched) -> list[Transfer]:
        """Always []: java-tron shows no pending pool to rely on; a transfer is seen when its
        block arrives (every 3 s)."""
        return []

    # ------------------------------------------------------------------------- transactions

    async def confirmations(self, txid: str) -> int:
        if len(txid) != 64:
            return 0
        try:
            info = await self._call(
                "gettransactioninfobyid", lambda: self.client.get_transaction_info(txid)
            )
        except TransactionNotFound:
            return 0
        number = info.get("blockNumber")
        if not isinstance(number, int):
            return 0
        head, solid = await self._heads()
        depth = head - number + 1
        try:
            if number <= solid:
                final = await self._call(
                    "walletsolidity/gettransactioninfobyid",
                    lambda: self.client.get_solid_transaction_info(txid),
                )
                return depth if final.get("blockNumber") == number else 0
            block = await self._block(number)
        except (TransactionNotFound, BlockNotFound):
            return 0  # moved by a reorg since the first answer
        if txid not in {tx["txID"] for tx in block.get("transactions", [])}:
            return 0
        return max(0, min(depth, FINAL_CONFIRMATIONS - 1))

    async def receipt(self, txid: str) -> TronReceipt | None:
        """The transaction's receipt once it is in a block; None while pending or unknown.
        Node trouble leaves as a ChainError (NodeUnavailable after retries), like every call."""
        if len(txid) != 64:
            return None
        try:
            info = await self._call(
                "gettransactioninfobyid", lambda: self.client.get_transaction_info(txid)
            )
        except TransactionNotFound:
            return None
        number = info.get("blockNumber")
        if not isinstance(number, int):
            return None
        return TronReceipt(
            txid=txid,
            block_height=number,
            succeeded=info.get("receipt", {}).get("result", "SUCCESS") == "SUCCESS",
            fee=Money.from_minor_units(int(info.get("fee", 0)), Asset.TRX),
        )

    async def broadcast(self, signed_tx: str) -> str:
        """Send a signed transaction (tronpy's JSON: txID, raw_data, signature); sending it
        again is harmless and returns its id."""
        try:
            transaction = json.loads(signed_tx)
            fallback_txid = str(transaction["txID"])
        except (ValueError, KeyError, TypeError):
            raise BroadcastRejected("This is not a Tron transaction.") from None

        async def post() -> dict[str, Any]:
            reply: dict[str, Any] = await self.client.provider.make_request(
                "wallet/broadcasttransaction", transaction
            )
            if reply.get("code") in _BUSY_CODES:
                raise _Busy(reply["code"])
            return reply

        reply = await self._call("broadcasttransaction", post)
        if reply.get("result") is True:
            return str(reply.get("txid") or fallback_txid)
        code = str(reply.get("code") or "Error")
        if code == "DUP_TRANSACTION_ERROR":
            return str(reply.get("txid") or fallback_txid)
        reason = f"{code}: {_text(reply.get('message') or reply.get('Error') or '')}"
        raise BroadcastRejected(reason=reason, tron_code=code)

    async def balance(self, address: str, asset: Asset) -> Money:
        owner = validate_address(address)
        if asset is Asset.USDT:
            reply = await self._call(
                "triggerconstantcontract",
                lambda: self.client.trigger_constant_contract(
                    owner, self.usdt, "balanceOf(address)", to_hex(owner)[2:].rjust(64, "0")
                ),
            )
            return Money.from_minor_units(int(reply["constant_result"][0] or "0", 16), Asset.USDT)
        if asset is Asset.TRX:
            try:
                account = await self._call("getaccount", lambda: self.client.get_account(owner))
            except AddressNotFound:
                return Money.zero(Asset.TRX)  # never activated: it holds no TRX
            return Money.from_minor_units(int(account.get("balance", 0)), Asset.TRX)
        raise ValueError(f"Tron addresses hold USDT or TRX here, not {asset}")

    async def prepare(
        self, *, valid_for_s: int = 600, fee_limit: Money | None = None
    ) -> TronTxParams:
        """A reference block and validity window for the next transaction we sign; the fee
        limit defaults to one and a half times what a USDT transfer to a new holder burns now
        (a transfer that needs more fails OUT_OF_ENERGY instead of draining the sender)."""
        info = await self._request("wallet/getnodeinfo", {})
        solid = _block_id(info["solidityBlock"])
        if fee_limit is None:
            limit = (await self.estimate_fee()).typical_cost.minor_units() * 3 // 2
        elif fee_limit.asset is Asset.TRX:
            limit = fee_limit.minor_units()
        else:
            raise ValueError("a fee limit is in TRX")
        now = int(time.time() * 1000)
        return TronTxParams(solid[12:16], solid[16:32], now, now + valid_for_s * 1000, limit)

    async def estimate_fee(self) -> FeeEstimate:
        """What one USDT transfer burns in TRX when the sender has no staked energy."""
        parameters = await self._call("getchainparameters", self.client.get_chain_parameters)
        values = {p["key"]: int(p.get("value", 0)) for p in parameters}  # zero prints no value
        energy_price = values.get("getEnergyFee", 0)
        bandwidth_price = values.get("getTransactionFee", 0)
        cost = energy_price * USDT_TRANSFER_ENERGY + bandwidth_price * USDT_TRANSFER_BANDWIDTH
        return FeeEstimate(
            network=self.network,
            unit_price=energy_price,
            unit="sun/energy",
            typical_cost=Money.from_minor_units(cost, Asset.TRX),
        )


def _ref(block: dict[str, Any]) -> BlockRef:
    raw = block["block_header"]["raw_data"]
    # protobuf's JSON leaves out zero values: the genesis block has no "number".
    return BlockRef(
        height=int(raw.get("number", 0)),
        hash=block["blockID"],
        parent_hash=raw.get("parentHash", NULL_HASH),
    )


def _block_id(summary: str) -> str:
    """The <hash> of getnodeinfo's "Num:N,ID:<hash>"."""
    return summary.split("ID:", 1)[1].strip()


def _number(summary: str) -> int:
    """The N of getnodeinfo's "Num:N,ID:<hash>"."""
    return int(summary.split(",", 1)[0].removeprefix("Num:"))


def _usdt_call(tx: dict[str, Any], usdt_hex: str) -> tuple[str, str, int] | None:
    """(from, to, units) of a direct USDT transfer/transferFrom call, from its calldata."""
    contract = tx["raw_data"]["contract"][0]
    value = contract["parameter"]["value"]
    if contract.get("type") != "TriggerSmartContract" or value.get("contract_address") != usdt_hex:
        return None
    data = str(value.get("data", ""))
    try:
        if data.startswith(TRANSFER_SELECTOR) and len(data) >= 136:
            return from_hex(value["owner_address"]), from_hex(data[8:72]), int(data[72:136], 16)
        if data.startswith(TRANSFER_FROM_SELECTOR) and len(data) >= 200:
            return from_hex(data[8:72]), from_hex(data[72:136]), int(data[136:200], 16)
    except ValueError:
        return None
    return None


def _text(message: str) -> str:
    """java-tron hex-encodes broadcast messages."""
    try:
        return bytes.fromhex(message).decode()
    except ValueError:
        return message


def _unavailable(failure: Exception) -> Transient:
    name = type(failure).__name__
    return Transient(NodeUnavailable("The Tron node did not answer.", reason=name), error=name)
