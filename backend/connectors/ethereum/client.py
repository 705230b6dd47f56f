"""Ethereum JSON-RPC connector (web3.py, async): USDT deposits, receipts, broadcast, balances.

Invariants: only logs from blocks count (never the mempool), each carrying the hash of the
block it came from; amounts are exact (`Money`, USDT 6 decimals, ETH 18), read from the
Transfer log's value and never from calldata; every failure leaves as a `ChainError`:
an unreachable or overloaded node is `NodeUnavailable` after retries with backoff. The
connector holds no key: it prepares nonce and fees, and broadcasts bytes the signer made.

Plain ETH sent to a deposit address is not scanned for: ETH is held only to pay gas.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3 import exceptions as web3_errors

from backend.connectors.chain import (
    BlockNotFound,
    BlockRef,
    BroadcastRejected,
    ChainError,
    FeeEstimate,
    InvalidAddress,
    NodeUnavailable,
    TransactionNotFound,
    Transfer,
    Watched,
    Watchlist,
)
from backend.connectors.ethereum import erc20
from backend.connectors.retry import Transient, retrying
from backend.logs import get_logger
from backend.settings import Settings
from contract.money import Asset, Money, Network

log = get_logger(__name__)

T = TypeVar("T")

# A USDT transfer to an address that already holds USDT costs ~41k gas, to an empty one ~63k.
ERC20_TRANSFER_GAS = 65_000
# Transport trouble, including an answer that is not JSON-RPC (a proxy's error page).
_TRANSIENT = (
    aiohttp.ClientError,
    TimeoutError,
    OSError,
    web3_errors.ProviderConnectionError,
    web3_errors.TooManyRequests,
    web3_errors.BadResponseFormat,
)
# Node phrases for "this exact transaction is already there": the broadcast succeeded before.
_ALREADY_SENT = ("already known", "already imported", "known transaction", "nonce too low")
# Node phrases for "the eth_getLogs answer would be too large": split the range and ask again.
_TOO_MANY_LOGS = ("more than", "too many", "limit exceeded", "response size", "range is too")
# Node phrases for "that range reaches past the tip" (anvil, geth, erigon).
_PAST_TIP = ("out of range", "outofrange", "beyond current head", "after last accepted block")


@dataclass(frozen=True)
class EthTxParams:
    """What the signer needs from the chain to build an EIP-1559 transaction."""

    chain_id: int
    nonce: int
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def max_cost(self) -> Money:
        return Money.from_minor_units(self.gas * self.max_fee_per_gas, Asset.ETH)

    def unsigned(self, to: str, value_wei: int, data: bytes) -> dict[str, Any]:
        """The EIP-1559 (type 2) transaction to sign with these parameters."""
        return {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "to": to_checksum_address(to),
            "value": value_wei,
            "data": data,
            "gas": self.gas,
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
        }


@dataclass(frozen=True)
class EthReceipt:
    txid: str
    succeeded: bool  # status 1; a reverted transfer still burns gas and moves nothing
    block: BlockRef
    gas_used: int
    effective_gas_price: int

    def fee(self) -> Money:
        return Money.from_minor_units(self.gas_used * self.effective_gas_price, Asset.ETH)


def _ref(block: Any) -> BlockRef:
    return BlockRef(
        height=int(block["number"]),
        hash=HexBytes(block["hash"]).to_0x_hex(),
        parent_hash=HexBytes(block["parentHash"]).to_0x_hex(),
    )


def _checksum(address: str) -> ChecksumAddress:
    try:
        return to_checksum_address(address)
    except ValueError:
        raise InvalidAddress(param="address") from None


def _account(topic: bytes) -> str:
    """A topic's 20-byte address as a match key: lower-case hex, no 0x."""
    return bytes(topic[-20:]).hex()


def _rpc_message(exc: Exception) -> str:
    if isinstance(exc, web3_errors.Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        if isinstance(error, dict):
            return str(error.get("message", exc))
    return str(getattr(exc, "message", None) or exc)


class EthereumConnector:
    network = Network.ethereum

    def __init__(
        self,
        rpc_url: str,
        usdt_contract: str,
        *,
        chunk_blocks: int = 1000,
        topic_batch: int = 500,
        timeout_s: float = 10.0,
        attempts: int = 4,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
    ) -> None:
        self.rpc_url = rpc_url
        self.usdt = _checksum(usdt_contract)
        self.chunk_blocks = chunk_blocks
        # Up to this many addresses go into one log filter (topics[2] OR-list); more than
        # that and one contract-wide Transfer query per range filtered here is cheaper.
        self.topic_batch = topic_batch
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        provider = AsyncHTTPProvider(
            rpc_url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout_s)},
            # Retries are ours (below), so that they cover every call and end in NodeUnavailable.
            exception_retry_configuration=None,
        )
        self.w3 = AsyncWeb3(provider, middleware=[])

    @classmethod
    def from_settings(cls, settings: Settings) -> EthereumConnector:
        if not settings.ethereum_usdt_contract:
            raise ValueError("ETHEREUM_USDT_CONTRACT is not set")
        return cls(
            settings.ethereum_rpc_url,
            settings.ethereum_usdt_contract,
            chunk_blocks=settings.ethereum_log_chunk_blocks,
        )

    async def aclose(self) -> None:
        provider = self.w3.provider
        if isinstance(provider, AsyncHTTPProvider):  # the only provider this connector makes
            await provider.disconnect()

    async def _call(
        self, method: str, call: Callable[[], Awaitable[T]], *, attempts: int | None = None
    ) -> T:
        """One RPC with retries on transport trouble; an answer that is an error is not retried.

        The node's own error message travels in `ChainError.extra["reason"]` (for logs and
        the caller's decisions), never in the message an API client could see.
        """

        async def attempt() -> T:
            try:
                return await call()
            except web3_errors.TransactionNotFound:
                raise TransactionNotFound() from None
            except web3_errors.BlockNotFound:
                raise BlockNotFound() from None
            except (web3_errors.Web3RPCError, web3_errors.ContractLogicError) as exc:
                raise ChainError(
                    f"The Ethereum node refused {method}.", reason=_rpc_message(exc)
                ) from None
            except aiohttp.ClientResponseError as exc:
                if exc.status != 429 and exc.status < 500:
                    raise NodeUnavailable(
                        f"The Ethereum node refused {method} (HTTP {exc.status})."
                    ) from exc
                raise self._unavailable(method, exc) from exc
            except _TRANSIENT as exc:
                raise self._unavailable(method, exc) from exc

        return await retrying(
            attempt,
            network="ethereum",
            method=method,
            attempts=attempts or self.attempts,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
        )

    @staticmethod
    def _unavailable(method: str, failure: Exception) -> Transient:
        final = NodeUnavailable(f"The Ethereum node did not answer {method}.")
        return Transient(final, error=type(failure).__name__)

    # -- chain ------------------------------------------------------------------------------

    async def chain_id(self) -> int:
        return await self._call("eth_chainId", lambda: self.w3.eth.chain_id)

    async def tip(self) -> BlockRef:
        return _ref(
            await self._call("eth_getBlockByNumber", lambda: self.w3.eth.get_block("latest"))
        )

    async def block_at(self, height: int) -> BlockRef:
        """The block at `height` in the current chain; BlockNotFound above the tip."""
        return _ref(await self._call("eth_getBlockByNumber", lambda: self.w3.eth.get_block(height)))

    async def _block_by_hash(self, block_hash: HexBytes) -> BlockRef:
        try:
            block = await self._call(
                "eth_getBlockByHash", lambda: self.w3.eth.get_block(block_hash)
            )
        except BlockNotFound:
            # The block a log came from is gone: the chain reorganised while we read it.
            raise ChainError("The chain reorganised during the scan; scan again.") from None
        return _ref(block)

    # -- scanning ---------------------------------------------------------------------------

    async def _logs(self, start: int, end: int, topics: list[str] | None) -> list[Any]:
        query: dict[str, Any] = {
            "address": self.usdt,
            "fromBlock": start,
            "toBlock": end,
            "topics": [erc20.TRANSFER_TOPIC, None, topics] if topics else [erc20.TRANSFER_TOPIC],
        }
        try:
            return list(await self._call("eth_getLogs", lambda: self.w3.eth.get_logs(query)))  # type: ignore[arg-type]  # web3 types it FilterParams
        except (NodeUnavailable, TransactionNotFound, BlockNotFound):
            raise
        except ChainError as exc:
            reason = str(exc.extra.get("reason", "")).lower()
            if any(phrase in reason for phrase in _PAST_TIP):
                raise BlockNotFound(param="end_height") from None
            if start < end and any(phrase in reason for phrase in _TOO_MANY_LOGS):
                middle = (start + end) // 2
                log.info("ethereum.logs_split", start=start, end=end)
                return [
                    *await self._logs(start, middle, topics),
                    *await self._logs(middle + 1, end, topics),
                ]
            raise

    async def scan(self, start_height: int, end_height: int, addresses: Watched) -> list[Transfer]:
        """USDT Transfer logs to `addresses` in blocks start..end, ordered as on chain.

        A few addresses go into the log filter; for a watchlist the contract's every Transfer
        in the range is read and the watchlist asked once for their recipients.
        BlockNotFound if the range reaches past the tip: scan up to `tip()` only.
        """
        watchlist = addresses if isinstance(addresses, Watchlist) else None
        wanted: set[str] = set()
        if not isinstance(addresses, Watchlist):
            wanted = {_checksum(a) for a in addresses}
        if (watchlist is None and not wanted) or end_height < start_height:
            return []
        ordered = sorted(wanted)
        batches: Sequence[list[str] | None] = (
            [[erc20.address_topic(a) for a in ordered[i : i + self.topic_batch]]
             for i in range(0, len(ordered), self.topic_batch)]
            if watchlist is None and len(ordered) <= self.topic_batch
            else [None]
        )  # fmt: skip  # the conditional reads as one expression
        found: dict[tuple[str, int], Any] = {}
        for low in range(start_height, end_height + 1, self.chunk_blocks):
            high = min(low + self.chunk_blocks - 1, end_height)
            for batch in batches:
                for entry in await self._logs(low, high, batch):
                    topics = entry["topics"]
                    # Transfer(address indexed, address indexed, uint256): exactly 3 topics.
                    if len(topics) != 3 or (
                        watchlist is None and erc20.topic_address(topics[2]) not in wanted
                    ):
                        continue
                    found[
                        (HexBytes(entry["transactionHash"]).to_0x_hex(), int(entry["logIndex"]))
                    ] = entry
        if watchlist is not None and found:
            ours = await watchlist.lookup({_account(e["topics"][2]) for e in found.values()})
            found = {key: e for key, e in found.items() if _account(e["topics"][2]) in ours}
        blocks: dict[bytes, BlockRef] = {}
        transfers = []
        for (txid, index), entry in sorted(
            found.items(), key=lambda item: (int(item[1]["blockNumber"]), item[0][1])
        ):
            block_hash = HexBytes(entry["blockHash"])
            if block_hash not in blocks:
                blocks[block_hash] = await self._block_by_hash(block_hash)
            transfers.append(
                Transfer(
                    network=Network.ethereum,
                    txid=txid,
                    index=index,
                    to_address=erc20.topic_address(entry["topics"][2]),
                    from_address=erc20.topic_address(entry["topics"][1]),
                    amount=Money.from_minor_units(int.from_bytes(entry["data"], "big"), Asset.USDT),
                    block=blocks[block_hash],
                )
            )
        return transfers

    async def pending(self, addresses: Watched) -> list[Transfer]:
        """Always []: a token transfer counts only from a block's logs, and a mempool
        transaction can be replaced by another with the same nonce at will."""
        return []

    # -- transactions -----------------------------------------------------------------------

    async def receipt(self, txid: str) -> EthReceipt | None:
        """The receipt of a transaction in the current chain; None if pending, unknown, reorged."""
        try:
            receipt = await self._call(
                "eth_getTransactionReceipt",
                lambda: self.w3.eth.get_transaction_receipt(txid),  # type: ignore[arg-type]  # web3 types it HexStr
            )
            block = await self.block_at(int(receipt["blockNumber"]))
        except (TransactionNotFound, BlockNotFound):
            return None
        if block.hash != HexBytes(receipt["blockHash"]).to_0x_hex():
            return None
        return EthReceipt(
            txid=HexBytes(receipt["transactionHash"]).to_0x_hex(),
            succeeded=int(receipt["status"]) == 1,
            block=block,
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt["effectiveGasPrice"]),
        )

    async def confirmations(self, txid: str) -> int:
        receipt = await self.receipt(txid)
        if receipt is None:
            return 0
        tip = await self._call("eth_blockNumber", lambda: self.w3.eth.block_number)
        return max(0, tip - receipt.block.height + 1)

    async def prepare(
        self, sender: str, to: str, *, value_wei: int = 0, data: bytes = b""
    ) -> EthTxParams:
        """Nonce, gas (estimated, with 20% headroom) and EIP-1559 fees for `sender`'s next tx."""
        sender, to = _checksum(sender), _checksum(to)
        request: Any = {"from": sender, "to": to, "value": value_wei, "data": HexBytes(data)}
        try:
            gas = await self._call("eth_estimateGas", lambda: self.w3.eth.estimate_gas(request))
        except NodeUnavailable:
            raise
        except ChainError as exc:  # it would revert: no balance, no gas money, a paused token
            log.warning("ethereum.estimate_refused", sender=sender, reason=exc.extra.get("reason"))
            raise BroadcastRejected(**exc.extra) from None
        nonce = await self._call(
            "eth_getTransactionCount", lambda: self.w3.eth.get_transaction_count(sender, "pending")
        )
        latest = await self._call("eth_getBlockByNumber", lambda: self.w3.eth.get_block("latest"))
        priority = await self._call(
            "eth_maxPriorityFeePerGas", lambda: self.w3.eth.max_priority_fee
        )
        base_fee = int(latest.get("baseFeePerGas", 0))
        return EthTxParams(
            chain_id=await self.chain_id(),
            nonce=nonce,
            gas=gas * 6 // 5,
            # Twice the base fee survives six full blocks of +12.5% before the tx stalls.
            max_fee_per_gas=2 * base_fee + priority,
            max_priority_fee_per_gas=priority,
        )

    async def broadcast(self, signed_tx: str) -> str:
        """Send signed bytes; sending the same bytes again returns the same txid."""
        raw = HexBytes(signed_tx)
        txid = HexBytes(keccak(raw)).to_0x_hex()
        try:
            sent = await self._call(
                "eth_sendRawTransaction", lambda: self.w3.eth.send_raw_transaction(raw)
            )
        except NodeUnavailable:
            raise
        except ChainError as exc:
            reason = str(exc.extra.get("reason", ""))
            if any(phrase in reason.lower() for phrase in _ALREADY_SENT) and await self._knows(
                txid
            ):
                return txid
            log.warning("ethereum.broadcast_rejected", txid=txid, reason=reason)
            raise BroadcastRejected(reason=reason) from None
        return HexBytes(sent).to_0x_hex()

    async def _knows(self, txid: str) -> bool:
        try:
            await self._call("eth_getTransactionByHash", lambda: self.w3.eth.get_transaction(txid))  # type: ignore[arg-type]  # web3 types it HexStr
        except TransactionNotFound:
            return False
        return True

    # -- balances and fees ------------------------------------------------------------------

    async def balance(self, address: str, asset: Asset) -> Money:
        owner = _checksum(address)
        if asset is Asset.ETH:
            wei = await self._call("eth_getBalance", lambda: self.w3.eth.get_balance(owner))
            return Money.from_minor_units(wei, Asset.ETH)
        if asset is Asset.USDT:
            call: Any = {"to": self.usdt, "data": HexBytes(erc20.balance_of_calldata(owner))}
            result = await self._call("eth_call", lambda: self.w3.eth.call(call))
            if len(result) != 32:
                raise ChainError(f"No USDT contract answers at {self.usdt}.")
            return Money.from_minor_units(int.from_bytes(result, "big"), Asset.USDT)
        raise ValueError(f"{asset} does not live on Ethereum")

    async def estimate_fee(self) -> FeeEstimate:
        gas_price = await self._call("eth_gasPrice", lambda: self.w3.eth.gas_price)
        return FeeEstimate(
            network=Network.ethereum,
            unit_price=gas_price,
            unit="wei/gas",
            typical_cost=Money.from_minor_units(gas_price * ERC20_TRANSFER_GAS, Asset.ETH),
        )

    async def ready(self) -> str:
        """A readiness probe: "ok" when the node answers at once (no retries: /readyz is fast)."""
        await self._call("eth_blockNumber", lambda: self.w3.eth.block_number, attempts=1)
        return "ok"
