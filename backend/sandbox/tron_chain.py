"""The Tron stand-in's chain: blocks, pending transactions, TRX and USDT balances, execution.

Invariants: balances are exactly what the active chain's executions made them (every
execution records its deltas, and disconnecting a block reverses them); a transaction is
accepted once (its id again is DUP_TRANSACTION_ERROR) after java-tron's checks (expiry,
TaPoS reference block, owner signature, owner account, TRX balance); a USDT transfer the
sender cannot cover lands in its block as REVERT (no log, energy still burned), one whose
fee_limit or TRX cannot pay the energy as OUT_OF_ENERGY; blocks at or below the solid
head (head - solid_lag) never change.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from coincurve import PrivateKey

from backend.sandbox.control import SimError
from backend.sandbox.tron_wire import (
    USDT_BASE58,
    address_of_key,
    from_word,
    hex_text,
    sign,
    signer_of,
    to_hex,
    transfer_log,
    txid_of,
    word,
)

SUN = 1_000_000
# Energy of a USDT transfer to a holder / to an address with no USDT yet (real receipts,
# including the dynamic-energy penalty), and of one that reverts early.
TRANSFER_ENERGY = 64_285
NEW_HOLDER_ENERGY = 130_285
REVERT_ENERGY = 5_000
TRANSFER_BANDWIDTH = 345
NEW_ACCOUNT_FEE = 1_100_000  # sun: system-contract creation fee plus the bandwidth burn
DEFAULT_FEE_LIMIT = 100 * SUN


class BroadcastError(Exception):
    """A java-tron broadcast failure: its `code` and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class TronTx:
    txid: str
    raw_data: dict[str, Any]  # hex addresses, as stored
    signature: list[str]

    @property
    def contract(self) -> dict[str, Any]:
        contract: dict[str, Any] = self.raw_data["contract"][0]
        return contract

    @property
    def value(self) -> dict[str, Any]:
        value: dict[str, Any] = self.contract["parameter"]["value"]
        return value


@dataclass
class Execution:
    contract_ret: str
    info: dict[str, Any]
    deltas: list[tuple[str, str, int]] = field(default_factory=list)  # (asset, address, delta)
    created: list[str] = field(default_factory=list)


@dataclass
class Block:
    number: int
    block_id: str
    parent_id: str
    timestamp: int
    witness: str
    txids: list[str]
    executions: dict[str, Execution]


def _key(seed: bytes) -> PrivateKey:
    return PrivateKey(hashlib.sha256(seed).digest())


class TronNode:
    """One java-tron node's view. Not thread-safe: the app drives it from one event loop."""

    def __init__(self, *, solid_lag: int = 19, energy_fee: int = 100) -> None:
        self.solid_lag = solid_lag
        self.energy_fee = energy_fee  # sun per energy (getEnergyFee)
        self.usdt_contract = to_hex(USDT_BASE58)
        self._derive_keys()
        self.payer = address_of_key(self.payer_key)
        # Has TRX for fees but no USDT: its transfers revert.
        self.broke_payer = address_of_key(self.broke_key)
        self.witness = address_of_key(_key(b"qpeapay sandbox tron witness"))
        self._serial = itertools.count(1)
        now = int(time.time() * 1000) // 3000 * 3000
        self.blocks: list[Block] = [self._make_block(0, "0" * 64, now, [], {})]
        self.txs: dict[str, TronTx] = {}
        self.pending: list[str] = []
        self.located: dict[str, int] = {}  # txid → number of the active block holding it
        self.trx: dict[str, int] = {self.payer: 10**9 * SUN, self.broke_payer: 10**6 * SUN}
        self.usdt: dict[str, int] = {self.payer: 10**9 * SUN}
        self.accounts: dict[str, int] = {self.payer: now, self.broke_payer: now, self.witness: now}

    def _derive_keys(self) -> None:
        self.payer_key = _key(b"qpeapay sandbox tron payer")
        self.broke_key = _key(b"qpeapay sandbox tron broke payer")

    def __getstate__(self) -> dict[str, Any]:
        # Keys hold a C context that does not pickle; they are derived again on load.
        return {k: v for k, v in self.__dict__.items() if k not in ("payer_key", "broke_key")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._derive_keys()

    # ------------------------------------------------------------------------- views

    @property
    def head(self) -> Block:
        return self.blocks[-1]

    @property
    def solid(self) -> Block:
        return self.blocks[max(0, self.head.number - self.solid_lag)]

    def block(self, number: int, *, solid: bool = False) -> Block | None:
        limit = self.solid.number if solid else self.head.number
        return self.blocks[number] if 0 <= number <= limit else None

    def block_by_id(self, block_id: str) -> Block | None:
        try:
            number = int(block_id[:16], 16)
        except ValueError:
            return None
        found = self.block(number)
        return found if found is not None and found.block_id == block_id else None

    def locate(self, txid: str, *, solid: bool = False) -> tuple[Block, Execution] | None:
        number = self.located.get(txid)
        block = None if number is None else self.block(number, solid=solid)
        return None if block is None else (block, block.executions[txid])

    # ------------------------------------------------------------------------- building

    def reference(self, block: Block | None = None) -> dict[str, Any]:
        """TaPoS fields and times for a new transaction (java-tron refers to the head)."""
        ref = block or self.head
        now = int(time.time() * 1000)
        return {
            "ref_block_bytes": f"{ref.number & 0xFFFF:04x}",
            "ref_block_hash": ref.block_id[16:32],
            "expiration": now + 60_000,
            "timestamp": now,
        }

    def trigger(
        self,
        owner: str,
        contract: str,
        data: str,
        fee_limit: int = DEFAULT_FEE_LIMIT,
        call_value: int = 0,
    ) -> dict[str, Any]:
        value: dict[str, Any] = {"data": data, "owner_address": owner, "contract_address": contract}
        if call_value:
            value["call_value"] = call_value
        return {
            "contract": [
                {
                    "parameter": {
                        "value": value,
                        "type_url": "type.googleapis.com/protocol.TriggerSmartContract",
                    },
                    "type": "TriggerSmartContract",
                }
            ],
            **self.reference(),
            "fee_limit": fee_limit,
        }

    def trx_transfer(self, owner: str, to: str, amount: int) -> dict[str, Any]:
        return {
            "contract": [
                {
                    "parameter": {
                        "value": {"amount": amount, "owner_address": owner, "to_address": to},
                        "type_url": "type.googleapis.com/protocol.TransferContract",
                    },
                    "type": "TransferContract",
                }
            ],
            **self.reference(),
        }

    # ------------------------------------------------------------------------- broadcast

    def submit(self, raw_data: dict[str, Any], signatures: list[str]) -> str:
        """java-tron's checks, then the transaction waits for the next block."""
        txid = txid_of(raw_data)
        if txid in self.txs:
            raise BroadcastError("DUP_TRANSACTION_ERROR", "Dup transaction.")
        try:
            contract = raw_data["contract"][0]
            value = contract["parameter"]["value"]
            owner = to_hex(value["owner_address"])
        except (KeyError, IndexError, TypeError, ValueError):
            raise BroadcastError("OTHER_ERROR", "Invalid transaction") from None
        if int(raw_data.get("expiration", 0)) <= int(time.time() * 1000):
            raise BroadcastError("TRANSACTION_EXPIRATION_ERROR", "Transaction expired")
        self._check_tapos(raw_data)
        if not signatures or signer_of(txid, signatures[0]) != owner:
            raise BroadcastError(
                "SIGERROR", "Validate signature error: the signature does not match the owner"
            )
        if owner not in self.accounts:
            raise BroadcastError("CONTRACT_VALIDATE_ERROR", f"Account[{owner}] does not exist")
        kind = contract.get("type")
        if kind == "TransferContract":
            to, amount = to_hex(value["to_address"]), int(value["amount"])
            if to == owner:
                raise BroadcastError("CONTRACT_VALIDATE_ERROR", "Cannot transfer TRX to yourself.")
            needed = amount + (0 if to in self.accounts else NEW_ACCOUNT_FEE)
            if amount <= 0 or self.trx.get(owner, 0) < needed:
                raise BroadcastError(
                    "CONTRACT_VALIDATE_ERROR",
                    "Validate TransferContract error, balance is not sufficient.",
                )
        elif kind == "TriggerSmartContract":
            if to_hex(value["contract_address"]) != self.usdt_contract:
                raise BroadcastError(
                    "CONTRACT_VALIDATE_ERROR", "No contract or not a valid smart contract"
                )
        else:
            raise BroadcastError("CONTRACT_VALIDATE_ERROR", f"{kind} is not supported here")
        self.txs[txid] = TronTx(txid, raw_data, list(signatures))
        self.pending.append(txid)
        return txid

    def _check_tapos(self, raw_data: dict[str, Any]) -> None:
        try:
            low = int(raw_data["ref_block_bytes"], 16)
            expected_hash = str(raw_data["ref_block_hash"])
        except (KeyError, ValueError, TypeError):
            raise BroadcastError("TAPOS_ERROR", "Tapos check error") from None
        number = self.head.number - ((self.head.number - low) & 0xFFFF)
        block = self.block(number)
        if block is None or block.block_id[16:32] != expected_hash:
            raise BroadcastError("TAPOS_ERROR", "Tapos check error")

    def submit_own(self, key: PrivateKey, raw_data: dict[str, Any]) -> str:
        return self.submit(raw_data, [sign(key, txid_of(raw_data))])

    # ------------------------------------------------------------------------- blocks

    def _make_block(
        self,
        number: int,
        parent_id: str,
        timestamp: int,
        txids: list[str],
        executions: dict[str, Execution],
    ) -> Block:
        seed = f"{number}:{parent_id}:{timestamp}:{','.join(txids)}:{next(self._serial)}"
        digest = hashlib.sha256(seed.encode()).hexdigest()
        return Block(
            number,
            f"{number:016x}{digest[16:]}",
            parent_id,
            timestamp,
            self.witness if number else "",
            txids,
            executions,
        )

    def _connect(self, txids: list[str]) -> Block:
        number = self.head.number + 1
        timestamp = max(int(time.time() * 1000) // 3000 * 3000, self.head.timestamp + 3000)
        executions = {txid: self._execute(self.txs[txid], number, timestamp) for txid in txids}
        block = self._make_block(number, self.head.block_id, timestamp, txids, executions)
        self.blocks.append(block)
        for txid in txids:
            self.located[txid] = number
        return block

    def _disconnect(self) -> Block:
        block = self.blocks.pop()
        for txid in reversed(block.txids):
            execution = block.executions[txid]
            for asset, address, delta in execution.deltas:
                balances = self.trx if asset == "TRX" else self.usdt
                balances[address] -= delta
            for address in execution.created:
                del self.accounts[address]
            del self.located[txid]
        return block

    def mine(self, count: int) -> list[str]:
        ids = []
        for i in range(count):
            txids, self.pending = (self.pending, []) if i == 0 else ([], self.pending)
            ids.append(self._connect(txids).block_id)
        return ids

    def reorg(self, depth: int, *, drop: bool = False, mine: int | None = None) -> list[str]:
        """Replace the last `depth` (unsolidified) blocks by a longer branch of empty ones;
        their transactions wait again for a block, or with `drop` are gone."""
        if not 1 <= depth <= self.head.number - self.solid.number:
            raise SimError(
                f"depth must be between 1 and {self.head.number - self.solid.number}: "
                "solidified blocks are final"
            )
        orphaned = [self._disconnect() for _ in range(depth)]
        returned = [txid for block in reversed(orphaned) for txid in block.txids]
        if drop:
            for txid in returned:
                del self.txs[txid]
            returned = []
        waiting, self.pending = self.pending, []
        count = depth + 1 if mine is None else mine
        ids = [self._connect([]).block_id for _ in range(count)]
        self.pending = returned + waiting
        return ids

    # ------------------------------------------------------------------------- execution

    def _execute(self, tx: TronTx, number: int, timestamp: int) -> Execution:
        if tx.contract["type"] == "TransferContract":
            execution = self._execute_trx(tx)
        else:
            execution = self._execute_trigger(tx)
        info = {"id": tx.txid, "blockNumber": number, "blockTimeStamp": timestamp}
        execution.info = info | execution.info
        if not execution.info.get("fee"):
            execution.info.pop("fee", None)
        for asset, address, delta in execution.deltas:
            balances = self.trx if asset == "TRX" else self.usdt
            balances[address] = balances.get(address, 0) + delta
        return execution

    def _execute_trx(self, tx: TronTx) -> Execution:
        owner, to = to_hex(tx.value["owner_address"]), to_hex(tx.value["to_address"])
        amount = int(tx.value["amount"])
        created = [] if to in self.accounts else [to]
        fee = NEW_ACCOUNT_FEE if created else 0
        if created:
            self.accounts[to] = int(time.time() * 1000)
        receipt = {"net_fee": 100_000} if created else {"net_usage": 268}
        return Execution(
            "SUCCESS",
            {"fee": fee, "contractResult": [""], "receipt": receipt},
            [("TRX", owner, -amount - fee), ("TRX", to, amount)],
            created,
        )

    def _execute_trigger(self, tx: TronTx) -> Execution:
        value = tx.value
        owner = to_hex(value["owner_address"])
        data = str(value.get("data", ""))
        sender, recipient, amount = owner, "", 0
        ok = False
        if data.startswith("a9059cbb") and len(data) >= 136:
            recipient, amount = from_word(data[8:72]), int(data[72:136], 16)
            ok = self.usdt.get(sender, 0) >= amount
        energy = (
            (TRANSFER_ENERGY if self.usdt.get(recipient, 0) else NEW_HOLDER_ENERGY)
            if ok
            else REVERT_ENERGY
        )
        affordable = min(int(tx.raw_data.get("fee_limit", 0)), self.trx.get(owner, 0))
        result = "SUCCESS" if ok else "REVERT"
        if energy * self.energy_fee > affordable:
            result, energy, ok = "OUT_OF_ENERGY", affordable // self.energy_fee, False
        fee = energy * self.energy_fee
        receipt = {
            "energy_fee": fee,
            "energy_usage_total": energy,
            "net_usage": TRANSFER_BANDWIDTH,
            "result": result,
        }
        info: dict[str, Any] = {
            "fee": fee,
            # TRC-20 USDT's transfer returns false even when it moved the tokens.
            "contractResult": [word(0) if ok else ""],
            "contract_address": self.usdt_contract,
            "receipt": receipt,
        }
        deltas = [("TRX", owner, -fee)]
        if ok:
            info["log"] = [transfer_log(self.usdt_contract, sender, recipient, amount)]
            deltas += [("USDT", sender, -amount), ("USDT", recipient, amount)]
        else:
            message = "REVERT opcode executed" if result == "REVERT" else "Not enough energy"
            info |= {"result": "FAILED", "resMessage": hex_text(message)}
        return Execution(result, info, deltas)

    # ------------------------------------------------------------------------- payers

    def pay_usdt(self, to: str, amount: int, *, broke: bool = False) -> str:
        key, owner = (self.broke_key, self.broke_payer) if broke else (self.payer_key, self.payer)
        data = "a9059cbb" + word(to) + word(amount)
        return self.submit_own(key, self.trigger(owner, self.usdt_contract, data))

    def pay_trx(self, to: str, amount: int) -> str:
        return self.submit_own(self.payer_key, self.trx_transfer(self.payer, to, amount))
