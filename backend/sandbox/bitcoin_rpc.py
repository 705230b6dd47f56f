"""Bitcoin Core's JSON-RPC for the stand-in: transport, envelopes, auth, and the node RPCs.

Speaks what python-bitcoinrpc and any Core client see (docs/wire-formats.md#bitcoin-core-json-rpc):
`POST /` and `POST /wallet/<name>`, Basic auth (401 without a body otherwise), the legacy
1.0/1.1 envelope (both `result` and `error`, HTTP 500 on an RPC error, 404 for -32601,
400 for -32600) or the 2.0 one (HTTP 200, 204 for notifications), batches, the
`Content-Type: application/json` header exactly, and amounts as bare 8-decimal numbers.
It is a walletless node with `-txindex=1`; wallet RPCs answer -18 as a node without a
loaded wallet does.
"""

from __future__ import annotations

import base64
import hmac
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.sandbox.bitcoin_chain import (
    DEFAULT_MAX_FEE_RATE,
    Block,
    Node,
    RpcError,
)
from backend.sandbox.bitcoin_render import (
    DIFFICULTY,
    TARGET_HEX,
    header_json,
    mempool_entry_json,
    tx_json,
)
from backend.sandbox.bitcoin_wire import (
    RawJson,
    Tx,
    btc_to_sats,
    describe_script,
    descsum_create,
    dumps,
    dumps_with,
    parse_tx,
    sats_to_btc,
    script_for_address,
    varint,
)
from contract import wire

NO_WALLET = (
    "No wallet is loaded. Load a wallet using loadwallet or create a new one with "
    "createwallet. (Note: A default wallet is no longer automatically created)"
)
WALLET_METHODS = frozenset(
    [
        "abandontransaction",
        "backupwallet",
        "bumpfee",
        "createwallet",
        "getbalance",
        "getbalances",
        "getnewaddress",
        "getrawchangeaddress",
        "gettransaction",
        "getwalletinfo",
        "importdescriptors",
        "listdescriptors",
        "listsinceblock",
        "listtransactions",
        "listunspent",
        "listwallets",
        "loadwallet",
        "sendmany",
        "sendtoaddress",
        "settxfee",
        "signrawtransactionwithwallet",
        "unloadwallet",
        "walletcreatefundedpsbt",
        "walletprocesspsbt",
    ]
)
_JSON_TYPE = {dict: "object", list: "array", str: "string", bool: "bool", type(None): "null"}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | Decimal | float):
        return "number"
    return _JSON_TYPE.get(type(value), "unknown")


def _expect(value: Any, expected: str) -> None:
    if _type_name(value) != expected:
        raise RpcError(
            -3, f"JSON value of type {_type_name(value)} is not of expected type {expected}"
        )


def parse_hash(value: Any, name: str) -> str:
    _expect(value, "string")
    if len(value) != 64:
        raise RpcError(-8, f"{name} must be of length 64 (not {len(value)}, for '{value}')")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise RpcError(-8, f"{name} must be hexadecimal string (not '{value}')") from None
    return str(value).lower()


def _int(value: Any) -> int:
    _expect(value, "number")
    if not isinstance(value, int):
        raise RpcError(-3, "JSON integer out of range")
    return value


def _verbosity(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    return _int(value)


@dataclass
class Outage:
    mode: str | None = None  # "503": work queue full; "warmup": -28 on every call


class BitcoinStandIn:
    """Routes JSON-RPC calls onto a `Node` and renders Core's JSON."""

    def __init__(self, node: Node, user: str, password: str) -> None:
        self.node, self.outage = node, Outage()
        self._auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._block_txs: dict[str, list[RawJson]] = {}
        self.methods: dict[str, Callable[..., Any]] = {
            name.removeprefix("rpc_"): getattr(self, name)
            for name in dir(self)
            if name.startswith("rpc_")
        }

    def use(self, node: Node) -> None:
        """Serve another chain (one loaded from disk)."""
        self.node = node
        self._block_txs.clear()

    # ------------------------------------------------------------------------- transport

    async def http(self, request: Request) -> Response:
        if self.outage.mode == "503":
            return Response("Work queue depth exceeded", 503, media_type="text/plain")
        if request.method != "POST":
            return Response("JSONRPC server handles only POST requests", 405)
        if not self._authorized(request.headers.get("authorization", "")):
            return Response(b"", 401, headers={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        wallet = request.path_params.get("wallet")
        try:
            payload = wire.loads(await request.body(), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            return _reply(
                dumps({"result": None, "error": _error(-32700, "Parse error"), "id": None}), 500
            )
        if isinstance(payload, list):
            replies = [self._exec(item, wallet) for item in payload]
            return _reply("[" + ",".join(text for text, _ in replies if text) + "]", 200)
        if not isinstance(payload, dict):
            err = _error(-32600, "Top-level object parse error")
            return _reply(dumps({"result": None, "error": err, "id": None}), 400)
        text, status = self._exec(payload, wallet)
        return _reply(text, status) if text else Response(status_code=204)

    def _authorized(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        return scheme == "Basic" and hmac.compare_digest(credentials.strip(), self._auth)

    def _exec(self, request: Any, wallet: str | None) -> tuple[str, int]:
        """One call → (reply text, legacy HTTP status). Empty text for a 2.0 notification."""
        v2 = isinstance(request, dict) and request.get("jsonrpc") == "2.0"
        req_id = request.get("id") if isinstance(request, dict) else None
        try:
            if not isinstance(request, dict) or not isinstance(request.get("method"), str):
                raise RpcError(-32600, "Missing method")
            result = self._call(request["method"], request.get("params"), wallet)
        except RpcError as exc:
            error = _error(exc.code, exc.message)
            if v2:
                return dumps({"jsonrpc": "2.0", "error": error, "id": req_id}), 200
            status = {-32600: 400, -32601: 404}.get(exc.code, 500)
            return dumps({"result": None, "error": error, "id": req_id}), status
        if v2 and "id" not in request:
            return "", 204
        body = result if isinstance(result, RawJson) else RawJson(dumps(result))
        head = '{"jsonrpc":"2.0","result":' if v2 else '{"result":'
        tail = "" if v2 else ',"error":null'
        return f'{head}{body}{tail},"id":{json.dumps(req_id)}}}', 200

    def _call(self, method: str, params: Any, wallet: str | None) -> Any:
        if self.outage.mode == "warmup":
            raise RpcError(-28, "Loading block index…")
        if method in WALLET_METHODS:
            if wallet is not None:
                raise RpcError(-18, "Requested wallet does not exist or is not loaded")
            raise RpcError(-18, NO_WALLET)
        handler = self.methods.get(method)
        if handler is None:
            raise RpcError(-32601, "Method not found")
        signature = inspect.signature(handler)
        if params is None:
            params = []
        if isinstance(params, dict):
            unknown = set(params) - set(signature.parameters)
            if unknown:
                raise RpcError(-8, f"Unknown named parameter {sorted(unknown)[0]}")
            args: list[Any] = []
            kwargs: dict[str, Any] = params
        elif isinstance(params, list):
            args, kwargs = params, {}
        else:
            raise RpcError(-32600, "Params must be an array or object")
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            raise RpcError(
                -1, f"{method}: wrong number of parameters (see help {method})"
            ) from None
        return handler(*args, **kwargs)

    # ------------------------------------------------------------------------- rendering

    def _block(self, hash_: Any) -> Block:
        block = self.node.by_hash.get(parse_hash(hash_, "blockhash"))
        if block is None:
            raise RpcError(-5, "Block not found")
        return block

    # ------------------------------------------------------------------------- chain RPCs

    def rpc_getblockchaininfo(self) -> dict[str, Any]:
        tip = self.node.tip
        return {
            "chain": self.node.chain.name,
            "blocks": tip.height,
            "headers": tip.height,
            "bestblockhash": tip.hash,
            "bits": f"{tip.bits:08x}",
            "target": TARGET_HEX,
            "difficulty": DIFFICULTY,
            "time": tip.time,
            "mediantime": tip.median_time,
            "verificationprogress": 1,
            "initialblockdownload": False,
            "chainwork": f"{2 * (tip.height + 1):064x}",
            "size_on_disk": sum(len(tx.raw) for b in self.node.blocks for tx in b.txs),
            "pruned": False,
            "warnings": [],
        }

    def rpc_getblockcount(self) -> int:
        return self.node.tip.height

    def rpc_getbestblockhash(self) -> str:
        return self.node.tip.hash

    def rpc_getblockhash(self, height: Any) -> str:
        number = _int(height)
        if not 0 <= number <= self.node.tip.height:
            raise RpcError(-8, "Block height out of range")
        return self.node.blocks[number].hash

    def rpc_getblockheader(self, blockhash: Any, verbose: Any = True) -> Any:
        block = self._block(blockhash)
        if verbose is False:
            return block.header().hex()
        return header_json(self.node, block)

    def rpc_getblock(self, blockhash: Any, verbosity: Any = None) -> Any:
        block = self._block(blockhash)
        level = _verbosity(verbosity, 1)
        count = varint(len(block.txs))
        if level == 0:
            return block.header().hex() + count.hex() + "".join(tx.raw.hex() for tx in block.txs)
        doc = header_json(self.node, block)
        doc.update(strippedsize=block.stripped_size, size=block.size, weight=block.weight)
        if level == 1:
            doc["tx"] = [tx.txid for tx in block.txs]
            return doc
        if level == 2:
            cached = self._block_txs.get(block.hash)
            if cached is None:
                cached = [
                    RawJson(dumps(tx_json(self.node.chain, tx, fee=block.fees.get(tx.txid))))
                    for tx in block.txs
                ]
                self._block_txs[block.hash] = cached
            return RawJson(dumps_with(doc, {"tx": cached}))
        if level == 3:
            doc["tx"] = [
                tx_json(
                    self.node.chain,
                    tx,
                    fee=block.fees.get(tx.txid),
                    prevouts=[block.undo[i.outpoint] for i in tx.inputs] if i else None,
                )
                for i, tx in enumerate(block.txs)
            ]
            return doc
        raise RpcError(-8, "Verbosity must be in range 0..3")

    def rpc_getrawtransaction(self, txid: Any, verbose: Any = None, blockhash: Any = None) -> Any:
        key = parse_hash(txid, "parameter 1")
        level = _verbosity(verbose, 0)
        node = self.node
        block: Block | None = None
        if blockhash is not None:
            block = self._block(blockhash)
            tx = next((t for t in block.txs if t.txid == key), None)
            if tx is None:
                raise RpcError(
                    -5,
                    "No such transaction found in the provided block. "
                    "Use gettransaction for wallet transactions.",
                )
        else:
            found = node.find_transaction(key)
            if found is None:
                raise RpcError(
                    -5,
                    "No such mempool or blockchain transaction. "
                    "Use gettransaction for wallet transactions.",
                )
            tx, block = found
        if level == 0:
            return tx.raw.hex()
        fee = None
        if level >= 2:
            fee = block.fees.get(key) if block else node.mempool[key].fee
        doc = tx_json(self.node.chain, tx, fee=fee)
        if blockhash is not None and block is not None:
            doc = {"in_active_chain": node.is_active(block), **doc}
        if block is not None:
            doc["blockhash"] = block.hash
            if node.is_active(block):
                doc["confirmations"] = node.confirmations(block)
                doc["time"] = doc["blocktime"] = block.time
            else:
                doc["confirmations"] = 0
        return doc

    def rpc_decoderawtransaction(self, hexstring: Any, iswitness: Any = None) -> dict[str, Any]:
        return tx_json(self.node.chain, _decode(hexstring))

    def rpc_getmempoolentry(self, txid: Any) -> dict[str, Any]:
        key = parse_hash(txid, "txid")
        if key not in self.node.mempool:
            raise RpcError(-5, "Transaction not in mempool")
        return mempool_entry_json(self.node, key)

    def rpc_getrawmempool(self, verbose: Any = False, mempool_sequence: Any = False) -> Any:
        if verbose:
            return {txid: mempool_entry_json(self.node, txid) for txid in self.node.mempool}
        return list(self.node.mempool)

    def rpc_getmempoolinfo(self) -> dict[str, Any]:
        pool = self.node.mempool.values()
        return {
            "loaded": True,
            "size": len(pool),
            "bytes": sum(e.tx.vsize for e in pool),
            "usage": sum(e.tx.size * 3 for e in pool),
            "total_fee": sats_to_btc(sum(e.fee for e in pool)),
            "maxmempool": 300_000_000,
            "mempoolminfee": Decimal("0.00001000"),
            "minrelaytxfee": Decimal("0.00001000"),
            "incrementalrelayfee": Decimal("0.00001000"),
            "unbroadcastcount": 0,
            "fullrbf": True,
        }

    def rpc_sendrawtransaction(
        self, hexstring: Any, maxfeerate: Any = None, maxburnamount: Any = None
    ) -> str:
        tx = _decode(hexstring)
        limit = DEFAULT_MAX_FEE_RATE
        if maxfeerate is not None:
            _expect(maxfeerate, "number")
            limit = Decimal(maxfeerate)
        return self.node.accept(tx, max_fee_rate=limit)

    def rpc_estimatesmartfee(self, conf_target: Any, estimate_mode: Any = "economical") -> Any:
        target = _int(conf_target)
        if not 1 <= target <= 1008:
            raise RpcError(-8, "Invalid conf_target, must be between 1 and 1008")
        _expect(estimate_mode, "string")
        if str(estimate_mode).lower() not in ("unset", "economical", "conservative"):
            raise RpcError(
                -8,
                'Invalid estimate_mode parameter, must be one of: "unset", "economical", '
                '"conservative"',
            )
        if self.node.fee_rate is None:
            return {"errors": ["Insufficient data or no feerate found"], "blocks": 0}
        # Core answers BTC per kvB; nearer targets cost a little more.
        sat_vb = self.node.fee_rate * (2 if target <= 2 else 1)
        return {"feerate": sats_to_btc(sat_vb * 1000), "blocks": max(target, 2)}

    def rpc_scantxoutset(self, action: Any, scanobjects: Any = None) -> Any:
        _expect(action, "string")
        if action in ("status", "abort"):
            return None if action == "status" else False
        if action != "start":
            raise RpcError(-8, "Invalid action '" + str(action) + "'")
        _expect(scanobjects, "array")
        scripts = {self._scan_script(item): None for item in scanobjects}
        node = self.node
        unspents = [
            {
                "txid": txid,
                "vout": n,
                "scriptPubKey": coin.script.hex(),
                "desc": describe_script(coin.script, node.chain)["desc"],
                "amount": sats_to_btc(coin.value),
                "coinbase": coin.coinbase,
                "height": coin.height,
                "blockhash": node.blocks[coin.height].hash,
                "confirmations": node.tip.height - coin.height + 1,
            }
            for (txid, n), coin in node.utxo.items()
            if coin.script in scripts and coin.height > 0
        ]
        return {
            "success": True,
            "txouts": len(node.utxo),
            "height": node.tip.height,
            "bestblock": node.tip.hash,
            "unspents": unspents,
            "total_amount": sats_to_btc(sum(btc_to_sats(u["amount"]) for u in unspents)),
        }

    def rpc_gettxout(self, txid: Any, n: Any, include_mempool: Any = True) -> Any:
        """One unspent output, or null; with the mempool, an output a mempool transaction
        spends is null and one it creates shows 0 confirmations."""
        outpoint = (parse_hash(txid, "txid"), _int(n))
        node = self.node
        if include_mempool and outpoint in node.spenders:
            return None
        coin = node._coin(outpoint) if include_mempool else node.utxo.get(outpoint)
        if coin is None or coin.height == 0:  # height 0: payer coins minted outside blocks
            return None
        return {
            "bestblock": node.tip.hash,
            "confirmations": 0 if coin.height < 0 else node.tip.height - coin.height + 1,
            "value": sats_to_btc(coin.value),
            "scriptPubKey": describe_script(coin.script, node.chain),
            "coinbase": coin.coinbase,
        }

    def _scan_script(self, item: Any) -> bytes:
        descriptor = item.get("desc") if isinstance(item, dict) else item
        _expect(descriptor, "string")
        body, _, checksum = str(descriptor).partition("#")
        if checksum and descsum_create(body) != descriptor:
            raise RpcError(-5, f"Provided checksum '{checksum}' does not match computed checksum")
        if body.startswith("addr(") and body.endswith(")"):
            try:
                return script_for_address(body[5:-1], self.node.chain)
            except ValueError:
                raise RpcError(-5, "Address is not valid") from None
        if body.startswith("raw(") and body.endswith(")"):
            try:
                return bytes.fromhex(body[4:-1])
            except ValueError:
                raise RpcError(-5, "Raw script is not hex") from None
        raise RpcError(-5, f"'{body}' is not a valid descriptor function")

    def rpc_getindexinfo(self, index_name: Any = None) -> dict[str, Any]:
        info = {"txindex": {"synced": True, "best_block_height": self.node.tip.height}}
        return info if index_name in (None, "txindex") else {}

    def rpc_uptime(self) -> int:
        return int(time.monotonic())


def _decode(hexstring: Any) -> Tx:
    _expect(hexstring, "string")
    try:
        return parse_tx(bytes.fromhex(hexstring))
    except (ValueError, KeyError):
        raise RpcError(-22, "TX decode failed. Make sure the tx has at least one input.") from None


def _error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def _reply(text: str, status: int) -> Response:
    # Exactly "application/json": python-bitcoinrpc refuses anything else (even a charset).
    return Response(text, status, media_type="application/json")
