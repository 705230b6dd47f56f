"""java-tron / TronGrid HTTP API for the stand-in: the endpoints tronpy 0.6.2 and we call.

Speaks docs/wire-formats.md#tron-http-api: `POST /wallet/<method>` and `/walletsolidity/<method>`
with JSON bodies (GET with query parameters too), always HTTP 200 + JSON; an unknown object
is `{}`, a malformed request `{"Error": "..."}`, a refused broadcast `{"code", "txid",
"message": <hex>}`; `visible: true` prints addresses as base58 `T…`, otherwise hex `41…`.
The walletsolidity views stop at the solid head; accounts and balances are the head's
state on both views.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.sandbox.tron_chain import (
    NEW_HOLDER_ENERGY,
    REVERT_ENERGY,
    TRANSFER_ENERGY,
    Block,
    BroadcastError,
    TronNode,
)
from backend.sandbox.tron_wire import (
    SELECTOR_OF,
    SELECTORS,
    USDT_ABI,
    USDT_DECIMALS,
    AddressError,
    canonical,
    digest,
    from_word,
    hex_text,
    hidden,
    sign,
    signer_of,
    to_hex,
    txid_of,
    visible,
    word,
)
from contract import wire

Handler = Callable[[dict[str, Any], bool], Any]
INVALID_ADDRESS = {"Error": "class java.lang.IllegalArgumentException : Invalid address"}


def _abi_string(text: str) -> str:
    data = text.encode()
    return word(32) + word(len(data)) + data.hex().ljust(64 * ((len(data) + 31) // 32), "0")


class TronStandIn:
    def __init__(self, node: TronNode) -> None:
        self.node = node
        self.down = False
        # A block's JSON and its receipts never change once it exists (a reorg makes new
        # blocks with new ids), so each is rendered once per block id and address form; a
        # busy block takes the stand-in far longer to render than java-tron to read.
        self._blocks: dict[tuple[str, bool], dict[str, Any]] = {}
        self._receipts: dict[tuple[str, bool], list[Any]] = {}
        self.wallet: dict[str, Handler] = {
            "getnowblock": lambda b, v: self._render_block(self.node.head, v),
            "getblockbynum": lambda b, v: self._block_or_empty(self.node.block(_num(b)), v),
            "getblockbyid": lambda b, v: self._block_or_empty(
                self.node.block_by_id(str(b.get("value", ""))), v
            ),
            "getblockbylimitnext": lambda b, v: self._range(b, v, solid=False),
            "getblockbylatestnum": self._latest,
            "getnodeinfo": self._node_info,
            "gettransactionbyid": lambda b, v: self._transaction(b, v, solid=False),
            "gettransactioninfobyid": lambda b, v: self._info(b, v, solid=False),
            "gettransactioninfobyblocknum": lambda b, v: self._infos(b, v, solid=False),
            "getaccount": self._account,
            "getaccountresource": self._resources,
            "getaccountnet": self._resources,
            "getchainparameters": self._chain_parameters,
            "triggerconstantcontract": self._constant,
            "estimateenergy": self._estimate,
            "triggersmartcontract": self._trigger,
            "createtransaction": self._create,
            "getsignweight": self._sign_weight,
            "broadcasttransaction": self._broadcast,
            "getcontract": self._contract,
        }
        self.solidity: dict[str, Handler] = {
            "getnowblock": lambda b, v: self._render_block(self.node.solid, v),
            "getblockbynum": lambda b, v: self._block_or_empty(
                self.node.block(_num(b), solid=True), v
            ),
            "getblockbylimitnext": lambda b, v: self._range(b, v, solid=True),
            "getnodeinfo": self._node_info,
            "gettransactionbyid": lambda b, v: self._transaction(b, v, solid=True),
            "gettransactioninfobyid": lambda b, v: self._info(b, v, solid=True),
            "gettransactioninfobyblocknum": lambda b, v: self._infos(b, v, solid=True),
            "getaccount": self._account,
            "triggerconstantcontract": self._constant,
        }

    # ------------------------------------------------------------------------- transport

    async def http(self, request: Request) -> Response:
        if self.down:
            return Response("503 Service Temporarily Unavailable", 503, media_type="text/html")
        table = self.solidity if request.url.path.startswith("/walletsolidity/") else self.wallet
        handler = table.get(request.path_params["method"])
        if handler is None:
            return Response("Not Found", 404, media_type="text/html")
        raw = await request.body()
        try:
            body = wire.loads(raw) if raw.strip() else dict(request.query_params)
        except ValueError as exc:
            return JSONResponse({"Error": f"class com.alibaba.fastjson.JSONException : {exc}"})
        if not isinstance(body, dict):
            return JSONResponse(
                {"Error": "class com.alibaba.fastjson.JSONException : not an object"}
            )
        try:
            answer = handler(body, body.get("visible") in (True, "true"))
            # The same bytes as JSONResponse (compact, UTF-8), several times faster.
            return Response(orjson.dumps(answer), media_type="application/json")
        except AddressError:
            return JSONResponse(INVALID_ADDRESS)
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"Error": f"class java.lang.IllegalArgumentException : {exc}"})

    # ------------------------------------------------------------------------- blocks

    def _tx_json(self, txid: str, contract_ret: str | None, vis: bool) -> dict[str, Any]:
        tx = self.node.txs[txid]
        doc: dict[str, Any] = {}
        if contract_ret is not None:
            doc["ret"] = [{"contractRet": contract_ret}]
        doc |= {
            "signature": tx.signature,
            "txID": txid,
            "raw_data": visible(tx.raw_data, vis),
            "raw_data_hex": canonical(tx.raw_data).hex(),
        }
        return doc

    def _render_block(self, block: Block, vis: bool) -> dict[str, Any]:
        rendered = self._blocks.get((block.block_id, vis))
        if rendered is None:
            rendered = self._blocks[block.block_id, vis] = self._block_json(block, vis)
        return rendered

    def _block_json(self, block: Block, vis: bool) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "number": block.number,
            "txTrieRoot": digest({"txs": block.txids}) if block.txids else "0" * 64,
            "witness_address": block.witness,
            "parentHash": block.parent_id,
            "version": 31,
            "timestamp": block.timestamp,
        }
        # protobuf's JSON printer leaves out default values (genesis: number 0, no witness).
        header: dict[str, Any] = {"raw_data": {k: v for k, v in raw.items() if v not in (0, "")}}
        if block.witness:
            header["witness_signature"] = sign(self.node.payer_key, block.block_id)
        doc: dict[str, Any] = {"blockID": block.block_id, "block_header": header}
        if block.txids:
            doc["transactions"] = [
                self._tx_json(t, block.executions[t].contract_ret, vis) for t in block.txids
            ]
        return visible(doc, vis) if vis else doc

    def _block_or_empty(self, block: Block | None, vis: bool) -> dict[str, Any]:
        return {} if block is None else self._render_block(block, vis)

    def _range(self, body: dict[str, Any], vis: bool, *, solid: bool) -> dict[str, Any]:
        start, end = int(body.get("startNum", 0)), int(body.get("endNum", 0))
        if not 0 < end - start <= 100:
            return {"Error": "class java.lang.Exception : startNum < endNum <= startNum + 100"}
        blocks = [b for n in range(start, end) if (b := self.node.block(n, solid=solid))]
        return {"block": [self._render_block(b, vis) for b in blocks]} if blocks else {}

    def _latest(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        count = int(body.get("num", 0))
        if not 0 < count <= 100:
            return {"Error": "class java.lang.Exception : num must be in 1..100"}
        return {"block": [self._render_block(b, vis) for b in self.node.blocks[-count:]]}

    def _node_info(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        head, solid = self.node.head, self.node.solid
        return {
            "beginSyncNum": head.number,
            "block": f"Num:{head.number},ID:{head.block_id}",
            "solidityBlock": f"Num:{solid.number},ID:{solid.block_id}",
            "currentConnectCount": 8,
            "activeConnectCount": 8,
            "passiveConnectCount": 0,
            "totalFlow": 0,
            "peerInfoList": [],
            "configNodeInfo": {"codeVersion": "4.7.6", "versionNum": "19500", "dbVersion": 2},
            "machineInfo": {"threadCount": 1, "cpuCount": 1, "processCpuRate": 0.0},
            "cheatWitnessInfoMap": {},
        }

    # ------------------------------------------------------------------------- transactions

    def _transaction(self, body: dict[str, Any], vis: bool, *, solid: bool) -> dict[str, Any]:
        found = self.node.locate(str(body.get("value", "")), solid=solid)
        if found is None:
            return {}
        execution = found[1]
        return self._tx_json(execution.info["id"], execution.contract_ret, vis)

    def _info(self, body: dict[str, Any], vis: bool, *, solid: bool) -> dict[str, Any]:
        found = self.node.locate(str(body.get("value", "")), solid=solid)
        return {} if found is None else visible(found[1].info, vis)

    def _infos(self, body: dict[str, Any], vis: bool, *, solid: bool) -> Any:
        number = _num(body)
        if number <= 0:
            return {}
        block = self.node.block(number, solid=solid)
        if block is None:
            return []
        rendered = self._receipts.get((block.block_id, vis))
        if rendered is None:
            rendered = [visible(block.executions[t].info, vis) for t in block.txids]
            self._receipts[block.block_id, vis] = rendered
        return rendered

    # ------------------------------------------------------------------------- accounts

    def _account(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        address = to_hex(str(body.get("address", "")))
        created = self.node.accounts.get(address)
        if created is None:
            return {}
        keys = [{"address": address, "weight": 1}]
        account: dict[str, Any] = {"address": address}
        if self.node.trx.get(address, 0):
            account["balance"] = self.node.trx[address]
        account |= {
            "create_time": created,
            "net_window_size": 28_800_000,
            "net_window_optimized": True,
            "account_resource": {"energy_window_size": 28_800_000, "energy_window_optimized": True},
            "owner_permission": {"permission_name": "owner", "threshold": 1, "keys": keys},
            "active_permission": [
                {
                    "type": "Active",
                    "id": 2,
                    "permission_name": "active",
                    "threshold": 1,
                    "operations": "7fff1fc0033ec30f" + "0" * 48,
                    "keys": keys,
                }
            ],
            "frozenV2": [{}, {"type": "ENERGY"}, {"type": "TRON_POWER"}],
        }
        shown: dict[str, Any] = visible(account, vis)
        return shown

    def _resources(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        if to_hex(str(body.get("address", ""))) not in self.node.accounts:
            return {}
        return {
            "freeNetLimit": 600,
            "TotalNetLimit": 43_200_000_000,
            "TotalNetWeight": 26_676_839_163,
            "TotalEnergyLimit": 180_000_000_000,
            "TotalEnergyWeight": 18_848_937_016,
        }

    def _chain_parameters(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        parameters: list[dict[str, Any]] = [
            {"key": "getMaintenanceTimeInterval", "value": 21_600_000},
            {"key": "getAccountUpgradeCost", "value": 9_999_000_000},
            {"key": "getCreateAccountFee", "value": 100_000},
            {"key": "getTransactionFee", "value": 1_000},
            {"key": "getAssetIssueFee", "value": 1_024_000_000},
            {"key": "getWitnessPayPerBlock", "value": 8_000_000},
            {"key": "getCreateNewAccountFeeInSystemContract", "value": 1_000_000},
            {"key": "getCreateNewAccountBandwidthRate", "value": 1},
            {"key": "getAllowCreationOfContracts", "value": 1},
            {"key": "getEnergyFee", "value": self.node.energy_fee},
            {"key": "getAllowUpdateAccountName"},  # zero: protobuf prints no value
            {"key": "getAllowSameTokenName", "value": 1},
            {"key": "getAllowDelegateResource", "value": 1},
            {"key": "getAllowTvmTransferTrc10", "value": 1},
            {"key": "getMemoFee", "value": 1_000_000},
            {"key": "getAllowDynamicEnergy", "value": 1},
        ]
        return {"chainParameter": parameters}

    # ------------------------------------------------------------------------- contracts

    def _call_data(self, body: dict[str, Any]) -> str:
        if body.get("data"):
            return str(body["data"])
        selector = SELECTOR_OF.get(str(body.get("function_selector", "")).replace(" ", ""), "")
        return selector + str(body.get("parameter", ""))

    def _run_view(self, owner: str, data: str) -> tuple[bool, str, int]:
        """(succeeded, return word(s), energy) of a call against USDT at the head state."""
        node, name = self.node, SELECTORS.get(data[:8])
        if name == "balanceOf(address)" and len(data) >= 72:
            return True, word(node.usdt.get(from_word(data[8:72]), 0)), 935
        if name == "decimals()":
            return True, word(USDT_DECIMALS), 230
        if name == "symbol()":
            return True, _abi_string("USDT"), 600
        if name == "name()":
            return True, _abi_string("Tether USD"), 600
        if name == "totalSupply()":
            return True, word(sum(node.usdt.values())), 400
        if name == "transfer(address,uint256)" and len(data) >= 136:
            recipient, amount = from_word(data[8:72]), int(data[72:136], 16)
            if node.usdt.get(owner, 0) >= amount:
                energy = TRANSFER_ENERGY if node.usdt.get(recipient, 0) else NEW_HOLDER_ENERGY
                return True, word(0), energy
        return False, "", REVERT_ENERGY

    def _unknown_contract(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if to_hex(str(body.get("contract_address", ""))) == self.node.usdt_contract:
            return None
        message = hex_text("No contract or not a valid smart contract")
        return {"result": {"code": "CONTRACT_VALIDATE_ERROR", "message": message}}

    def _constant(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        if (refused := self._unknown_contract(body)) is not None:
            return refused
        owner = to_hex(str(body.get("owner_address") or to_hex(self.node.payer)))
        data = self._call_data(body)
        ok, output, energy = self._run_view(owner, data)
        raw = self.node.trigger(owner, self.node.usdt_contract, data)
        transaction = {
            "ret": [{}] if ok else [{"ret": "FAILED"}],
            "visible": vis,
            "txID": txid_of(raw),
            "raw_data": visible(raw, vis),
            "raw_data_hex": canonical(raw).hex(),
        }
        result: dict[str, Any] = {"result": True} if ok else {"message": "REVERT opcode executed"}
        return {
            "result": result,
            "energy_used": energy,
            "constant_result": [output],
            "transaction": transaction,
        }

    def _estimate(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        if (refused := self._unknown_contract(body)) is not None:
            return refused
        owner = to_hex(str(body.get("owner_address", "")))
        ok, _, energy = self._run_view(owner, self._call_data(body))
        if not ok:
            message = hex_text("REVERT opcode executed")
            return {"result": {"code": "CONTRACT_EXE_ERROR", "message": message}}
        return {"result": {"result": True}, "energy_required": energy}

    def _unsigned(self, raw: dict[str, Any], vis: bool) -> dict[str, Any]:
        return {
            "visible": vis,
            "txID": txid_of(raw),
            "raw_data": visible(raw, vis),
            "raw_data_hex": canonical(raw).hex(),
        }

    def _trigger(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        if (refused := self._unknown_contract(body)) is not None:
            return refused
        raw = self.node.trigger(
            to_hex(str(body["owner_address"])),
            self.node.usdt_contract,
            self._call_data(body),
            fee_limit=int(body.get("fee_limit", 0)),
            call_value=int(body.get("call_value", 0)),
        )
        return {"result": {"result": True}, "transaction": self._unsigned(raw, vis)}

    def _create(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        owner = to_hex(str(body["owner_address"]))
        if owner not in self.node.accounts:
            return {
                "Error": "class org.tron.core.exception.ContractValidateException : "
                "Validate TransferContract error, no OwnerAccount."
            }
        raw = self.node.trx_transfer(owner, to_hex(str(body["to_address"])), int(body["amount"]))
        return self._unsigned(raw, vis)

    def _sign_weight(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        raw = hidden(body["raw_data"])
        txid = txid_of(raw)
        owner = to_hex(str(raw["contract"][0]["parameter"]["value"]["owner_address"]))
        signed = [s for s in body.get("signature") or [] if signer_of(txid, s) == owner]
        reply: dict[str, Any] = {
            "result": {"code": "ENOUGH_PERMISSION" if signed else "NOT_ENOUGH_PERMISSION"},
            "approved_list": [owner] if signed else [],
            "current_weight": 1 if signed else 0,
            "transaction": {
                "result": {"result": True},
                "txid": txid,
                "transaction": {
                    "txID": txid,
                    "raw_data": visible(raw, vis),
                    "raw_data_hex": canonical(raw).hex(),
                },
            },
        }
        if owner in self.node.accounts:  # an account not on chain yet has no permission
            keys = [{"address": owner, "weight": 1}]
            reply["permission"] = {"permission_name": "owner", "threshold": 1, "keys": keys}
        return reply

    def _broadcast(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        raw = hidden(body["raw_data"])
        try:
            txid = txid_of(raw)
        except ValueError:
            reason = "Only TransferContract and TriggerSmartContract run on this stand-in."
            return {"code": "CONTRACT_VALIDATE_ERROR", "txid": "", "message": hex_text(reason)}
        try:
            self.node.submit(raw, [str(s) for s in body.get("signature") or []])
        except BroadcastError as exc:
            return {"code": exc.code, "txid": txid, "message": hex_text(exc.message)}
        return {"result": True, "txid": txid}

    def _contract(self, body: dict[str, Any], vis: bool) -> dict[str, Any]:
        if to_hex(str(body.get("value", ""))) != self.node.usdt_contract:
            return {}
        contract = {
            "bytecode": "6080",
            "consume_user_resource_percent": 30,
            "name": "TetherToken",
            "origin_address": self.node.payer,
            "abi": {"entrys": USDT_ABI},
            "origin_energy_limit": 10_000_000,
            "contract_address": self.node.usdt_contract,
            "code_hash": digest({"contract": "usdt"}),
        }
        shown: dict[str, Any] = visible(contract, vis)
        return shown


def _num(body: dict[str, Any]) -> int:
    return int(body.get("num", -1))
