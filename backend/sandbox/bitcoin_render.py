"""Core's JSON shapes for the Bitcoin stand-in: block headers, transactions, mempool entries.

Invariants: field names, presence rules and units are Core's (v30): `previousblockhash`
absent at genesis and `nextblockhash` at the tip, `fee` only where undo data exists,
`txinwitness` only for witness inputs, amounts as Decimal BTC (printed with 8 decimals).
"""

from __future__ import annotations

from typing import Any

from backend.sandbox.bitcoin_chain import Block, Coin, Node
from backend.sandbox.bitcoin_wire import ChainParams, Tx, describe_script, sats_to_btc

DIFFICULTY = 4.656542373906925e-10  # regtest, as Core prints it
TARGET_HEX = "7fffff" + "00" * 29


def header_json(node: Node, block: Block) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "hash": block.hash,
        "confirmations": node.confirmations(block),
        "height": block.height,
        "version": block.version,
        "versionHex": f"{block.version:08x}",
        "merkleroot": block.merkle[::-1].hex(),
        "time": block.time,
        "mediantime": block.median_time,
        "nonce": block.nonce,
        "bits": f"{block.bits:08x}",
        "target": TARGET_HEX,
        "difficulty": DIFFICULTY,
        "chainwork": f"{2 * (block.height + 1):064x}",
        "nTx": len(block.txs),
    }
    if block.height:
        doc["previousblockhash"] = block.prev_hash
    if (following := node.next_hash(block)) is not None:
        doc["nextblockhash"] = following
    return doc


def tx_json(
    chain: ChainParams, tx: Tx, *, fee: int | None = None, prevouts: list[Coin] | None = None
) -> dict[str, Any]:
    vin: list[dict[str, Any]] = []
    for i, txin in enumerate(tx.inputs):
        item: dict[str, Any]
        if tx.is_coinbase:
            item = {"coinbase": txin.script_sig.hex()}
        else:
            item = {
                "txid": txin.prev_txid,
                "vout": txin.prev_vout,
                "scriptSig": {"asm": "", "hex": txin.script_sig.hex()},
            }
        if txin.witness:
            item["txinwitness"] = [w.hex() for w in txin.witness]
        if prevouts is not None and not tx.is_coinbase:
            coin = prevouts[i]
            item["prevout"] = {
                "generated": coin.coinbase,
                "height": coin.height,
                "value": sats_to_btc(coin.value),
                "scriptPubKey": describe_script(coin.script, chain),
            }
        item["sequence"] = txin.sequence
        vin.append(item)
    doc: dict[str, Any] = {
        "txid": tx.txid,
        "hash": tx.wtxid,
        "version": tx.version,
        "size": tx.size,
        "vsize": tx.vsize,
        "weight": tx.weight,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": [
            {
                "value": sats_to_btc(out.value),
                "n": n,
                "scriptPubKey": describe_script(out.script, chain),
            }
            for n, out in enumerate(tx.outputs)
        ],
    }
    if fee is not None and not tx.is_coinbase:
        doc["fee"] = sats_to_btc(fee)
    doc["hex"] = tx.raw.hex()
    return doc


def mempool_entry_json(node: Node, txid: str) -> dict[str, Any]:
    entry = node.mempool[txid]
    parents = sorted({i.prev_txid for i in entry.tx.inputs if i.prev_txid in node.mempool})
    children = sorted(
        {c for n in range(len(entry.tx.outputs)) if (c := node.spenders.get((txid, n)))}
    )
    family = node.descendants(txid)
    fee = sats_to_btc(entry.fee)
    return {
        "vsize": entry.tx.vsize,
        "weight": entry.tx.weight,
        "time": entry.time,
        "height": entry.height,
        "descendantcount": len(family),
        "descendantsize": sum(node.mempool[t].tx.vsize for t in family),
        "ancestorcount": 1 + len(parents),
        "ancestorsize": entry.tx.vsize + sum(node.mempool[p].tx.vsize for p in parents),
        "wtxid": entry.tx.wtxid,
        "fees": {
            "base": fee,
            "modified": fee,
            "ancestor": sats_to_btc(entry.fee + sum(node.mempool[p].fee for p in parents)),
            "descendant": sats_to_btc(sum(node.mempool[t].fee for t in family)),
        },
        "depends": parents,
        "spentby": children,
        "bip125-replaceable": entry.tx.signals_rbf,
        "unbroadcast": False,
    }
