"""Bitcoin Core JSON-RPC through python-bitcoinrpc: a fresh proxy per call, in a thread, bounded.

Invariants: an `AuthServiceProxy` is never shared or reused (it wraps one HTTP connection,
is not thread-safe and stays broken after an error), so every call builds one, runs it in a
worker thread and closes its socket; at most `concurrency` calls are in flight (Core has a
small RPC work queue and answers 503 past it); transport trouble and "warming up" are
retried with jittered exponential backoff and end in `NodeUnavailable`; every failure leaves
as a `ChainError` subclass whose message names no credential and no node internals (the
node's own words travel in `extra["reason"]`). Amounts arrive as `Decimal`: python-bitcoinrpc
parses every JSON fraction with `parse_float=Decimal`, and nothing here turns one into a float.
"""

from __future__ import annotations

import asyncio
import http.client
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bitcoinrpc.authproxy import AuthServiceProxy, JSONRPCException

from backend.connectors.chain import (
    BlockNotFound,
    BroadcastRejected,
    ChainError,
    NodeUnavailable,
    TransactionNotFound,
)
from backend.connectors.retry import Transient, retrying

RPC_IN_WARMUP = -28
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25
RPC_VERIFY_REJECTED = -26
RPC_VERIFY_ALREADY_IN_UTXO_SET = -27
# python-bitcoinrpc's own codes: the HTTP answer was not JSON (401, 503 "Work queue depth
# exceeded", a proxy's error page) / it carried no result.
CLIENT_NON_JSON = -342
CLIENT_NO_RESULT = -343
_TRANSACTION_METHODS = frozenset({"getrawtransaction", "getmempoolentry", "gettransaction"})
_RAW_TX_METHODS = frozenset({"sendrawtransaction", "decoderawtransaction"})
_BLOCK_METHODS = frozenset({"getblockhash", "getblock", "getblockheader"})
_TRANSPORT_ERRORS = (OSError, http.client.HTTPException)


class BitcoinRpc:
    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        *,
        timeout_s: float = 30.0,
        concurrency: int = 4,
        attempts: int = 4,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
    ) -> None:
        if attempts < 1 or concurrency < 1:
            raise ValueError("attempts and concurrency must be at least 1")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("BITCOIN_RPC_URL must be an http(s) URL")
        if any(char in user + password for char in "/?#@"):
            # AuthServiceProxy reads the credentials back out of the URL without unquoting.
            raise ValueError("Bitcoin RPC credentials may not contain / ? # or @")
        netloc = f"{user}:{password}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self._url = urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))
        self.endpoint = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._slots = asyncio.Semaphore(concurrency)

    def __repr__(self) -> str:
        return f"BitcoinRpc({self.endpoint!r})"  # never the URL with credentials

    async def call(self, method: str, *params: Any) -> Any:
        """Run one RPC; retried while the node is unreachable, busy or starting."""

        async def attempt() -> Any:
            async with self._slots:
                return await asyncio.to_thread(self._call_sync, method, params)

        return await retrying(
            attempt,
            network="bitcoin",
            method=method,
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
        )

    def _call_sync(self, method: str, params: tuple[Any, ...]) -> Any:
        proxy = AuthServiceProxy(self._url, timeout=self.timeout_s)
        try:
            return getattr(proxy, method)(*params)
        except JSONRPCException as exc:
            raise _translate(method, exc) from None
        except _TRANSPORT_ERRORS as exc:
            raise Transient(
                NodeUnavailable("The Bitcoin node cannot be reached.", reason=type(exc).__name__)
            ) from None
        except ValueError as exc:  # a body that claimed to be JSON and was not
            raise ChainError("The Bitcoin node answered garbage.", reason=str(exc)) from None
        finally:
            connection = getattr(proxy, "_AuthServiceProxy__conn", None)
            if connection is not None:
                connection.close()


def _translate(method: str, exc: JSONRPCException) -> Exception:
    code: int | None = exc.code
    reason = str(exc.message or "")
    if code == RPC_IN_WARMUP:
        return Transient(NodeUnavailable("The Bitcoin node is starting.", reason=reason))
    if code == CLIENT_NON_JSON:
        if "401" in reason or "403" in reason:
            return ChainError("The Bitcoin node refused our RPC credentials.", reason=reason)
        return Transient(NodeUnavailable("The Bitcoin node is overloaded.", reason=reason))
    if code == RPC_INVALID_PARAMETER and "already in progress" in reason:
        return Transient(NodeUnavailable("The Bitcoin node is busy scanning.", reason=reason))
    if code in (RPC_VERIFY_ERROR, RPC_VERIFY_REJECTED, RPC_VERIFY_ALREADY_IN_UTXO_SET):
        return BroadcastRejected(reason=reason, rpc_code=code)
    if code == RPC_DESERIALIZATION_ERROR and method in _RAW_TX_METHODS:
        return BroadcastRejected("This is not a Bitcoin transaction.", reason=reason, rpc_code=code)
    if code == RPC_INVALID_ADDRESS_OR_KEY and method in _TRANSACTION_METHODS:
        return TransactionNotFound(reason=reason)
    if method in _BLOCK_METHODS and (
        (code == RPC_INVALID_PARAMETER and "out of range" in reason)
        or code == RPC_INVALID_ADDRESS_OR_KEY
    ):
        return BlockNotFound(reason=reason)
    return ChainError(f"The Bitcoin node refused {method}.", reason=reason, rpc_code=code)
