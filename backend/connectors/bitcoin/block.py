"""Bitcoin's raw block format, read only as far as scanning needs: txids and outputs.

Invariants: a txid is the double-SHA256 of the transaction without its witness (BIP144:
version, inputs, outputs, locktime), printed byte-reversed as Core prints it; an output's
value is exact satoshis (a little-endian int64), never a float or a BTC decimal; the block
hash is the double-SHA256 of the 80-byte header; bytes that do not parse to exactly one
block, with nothing left over, raise `ValueError`.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

HEADER_SIZE = 80
_SEGWIT_MARKER = 0


# Named tuples, not frozen dataclasses: a busy block makes ~10,000 of them, built for
# the price of a tuple.
class RawOutput(NamedTuple):
    sats: int
    script: bytes  # scriptPubKey


class RawTransaction(NamedTuple):
    txid: str
    outputs: tuple[RawOutput, ...]


class RawBlock(NamedTuple):
    hash: str
    parent_hash: str
    transactions: tuple[RawTransaction, ...]


def _dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def block_hash(header: bytes) -> str:
    return _dsha256(header[:HEADER_SIZE])[::-1].hex()


def _compact_size(data: bytes, pos: int) -> tuple[int, int]:
    """A CompactSize length at `pos`, and where the bytes after it begin."""
    first = data[pos]
    if first < 0xFD:
        return first, pos + 1
    width = 2 if first == 0xFD else 4 if first == 0xFE else 8
    return int.from_bytes(data[pos + 1 : pos + 1 + width], "little"), pos + 1 + width


def _transaction(data: bytes, pos: int) -> tuple[RawTransaction, int]:
    """The transaction starting at `pos`, and where the next one begins.

    Positions run past the end only on truncated bytes; the caller's final length check
    (and IndexError from a read past the end) catches that once, not at every step."""
    start = pos
    pos += 4  # version
    witness = data[pos] == _SEGWIT_MARKER
    if witness:  # BIP144: marker 0x00 (an impossible input count), then flag 0x01
        if data[pos + 1] != 1:
            raise ValueError("bad segwit flag")
        pos += 2
    body = pos
    inputs, pos = _compact_size(data, pos)
    if not inputs:
        raise ValueError("a transaction without inputs")
    for _ in range(inputs):
        length, pos = _compact_size(data, pos + 36)  # after previous txid and vout: scriptSig
        pos += length + 4  # and sequence
    count, pos = _compact_size(data, pos)
    outputs = []
    for _ in range(count):
        value = int.from_bytes(data[pos : pos + 8], "little", signed=True)
        length, pos = _compact_size(data, pos + 8)
        outputs.append(RawOutput(value, data[pos : pos + length]))
        pos += length
    body_end = pos
    if witness:
        for _ in range(inputs):
            items, pos = _compact_size(data, pos)
            for _ in range(items):
                length, pos = _compact_size(data, pos)
                pos += length
    end = pos + 4  # locktime
    if end > len(data):
        raise ValueError("truncated")
    if witness:
        stripped = data[start : start + 4] + data[body:body_end] + data[pos:end]
    else:
        stripped = data[start:end]
    return RawTransaction(_dsha256(stripped)[::-1].hex(), tuple(outputs)), end


def _parsed(data: bytes, pos: int, what: str) -> tuple[list[RawTransaction], int]:
    try:
        if what == "block":
            count, pos = _compact_size(data, pos)
        else:
            count = 1
        transactions = []
        for _ in range(count):
            transaction, pos = _transaction(data, pos)
            transactions.append(transaction)
    except IndexError:
        raise ValueError("truncated") from None
    if pos != len(data):
        raise ValueError(f"bytes left after the {what}")
    return transactions, pos


def parse_transaction(raw: bytes) -> RawTransaction:
    """One serialised transaction (legacy or segwit), as `getrawtransaction <txid>` gives it."""
    return _parsed(raw, 0, "transaction")[0][0]


def parse_block(raw: bytes) -> RawBlock:
    """A serialised block, as `getblock <hash> 0` gives it (hex-decoded)."""
    if len(raw) < HEADER_SIZE:
        raise ValueError("truncated")
    transactions, _ = _parsed(raw, HEADER_SIZE, "block")
    return RawBlock(block_hash(raw), raw[4:36][::-1].hex(), tuple(transactions))
