"""Bitcoin's byte and JSON formats for the Core stand-in: transactions, blocks, scripts, addresses.

Invariants: txids, wtxids and block hashes are the real double-SHA256 of the real
serialisations (so a hex the stand-in hands out decodes to the same id anywhere), and every
BTC amount leaves as a bare JSON number with exactly 8 decimals, as Core's ValueFromAmount.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from bip_utils import Base58Decoder, Base58Encoder, SegwitBech32Decoder, SegwitBech32Encoder

COIN = 100_000_000
NULL_HASH = "00" * 32
SEQUENCE_FINAL = 0xFFFFFFFF
# BIP125: any input with nSequence below this signals opt-in replaceability.
SEQUENCE_RBF_LIMIT = 0xFFFFFFFE


def dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash_hex(digest: bytes) -> str:
    """Core prints hashes byte-reversed."""
    return digest[::-1].hex()


def sats_to_btc(sats: int) -> Decimal:
    return Decimal(sats).scaleb(-8).quantize(Decimal("0.00000001"))


def btc_to_sats(amount: Decimal) -> int:
    sats = amount * COIN
    if sats != sats.to_integral_value():
        raise ValueError("Invalid amount: more than 8 decimals")
    return int(sats)


# ----------------------------------------------------------------------------- serialisation


def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def _push(data: bytes) -> bytes:
    return varint(len(data)) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u32(self) -> int:
        value: int = struct.unpack("<I", self.take(4))[0]
        return value

    def varint(self) -> int:
        first = self.take(1)[0]
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        return int.from_bytes(self.take(size), "little")

    def blob(self) -> bytes:
        return self.take(self.varint())


@dataclass(frozen=True)
class TxIn:
    prev_txid: str
    prev_vout: int
    script_sig: bytes = b""
    sequence: int = SEQUENCE_FINAL
    witness: tuple[bytes, ...] = ()

    @property
    def outpoint(self) -> tuple[str, int]:
        return self.prev_txid, self.prev_vout


@dataclass(frozen=True)
class TxOut:
    value: int  # satoshis
    script: bytes


@dataclass(frozen=True)
class Tx:
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    version: int = 2
    locktime: int = 0

    @property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)

    def serialize(self, *, witness: bool = True) -> bytes:
        with_witness = witness and self.has_witness
        parts = [struct.pack("<i", self.version)]
        if with_witness:
            parts.append(b"\x00\x01")
        parts.append(varint(len(self.inputs)))
        for txin in self.inputs:
            parts.append(bytes.fromhex(txin.prev_txid)[::-1])
            parts.append(struct.pack("<I", txin.prev_vout))
            parts.append(_push(txin.script_sig))
            parts.append(struct.pack("<I", txin.sequence))
        parts.append(varint(len(self.outputs)))
        for txout in self.outputs:
            parts.append(struct.pack("<q", txout.value))
            parts.append(_push(txout.script))
        if with_witness:
            for txin in self.inputs:
                parts.append(varint(len(txin.witness)))
                parts.extend(_push(item) for item in txin.witness)
        parts.append(struct.pack("<I", self.locktime))
        return b"".join(parts)

    @cached_property
    def raw(self) -> bytes:
        return self.serialize()

    @cached_property
    def txid(self) -> str:
        return hash_hex(dsha256(self.serialize(witness=False)))

    @cached_property
    def wtxid(self) -> str:
        return hash_hex(dsha256(self.raw))

    @property
    def size(self) -> int:
        return len(self.raw)

    @cached_property
    def weight(self) -> int:
        return len(self.serialize(witness=False)) * 3 + len(self.raw)

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].prev_txid == NULL_HASH

    @property
    def signals_rbf(self) -> bool:
        return any(txin.sequence < SEQUENCE_RBF_LIMIT for txin in self.inputs)


def parse_tx(data: bytes) -> Tx:
    """Deserialize a (segwit or legacy) transaction; ValueError when it is not one."""
    reader = _Reader(data)
    version = struct.unpack("<i", reader.take(4))[0]
    count = reader.varint()
    segwit = count == 0
    if segwit:
        if reader.take(1) != b"\x01":
            raise ValueError("bad segwit flag")
        count = reader.varint()
    raw_inputs = []
    for _ in range(count):
        prev = reader.take(32)[::-1].hex()
        vout = reader.u32()
        script_sig = reader.blob()
        raw_inputs.append((prev, vout, script_sig, reader.u32()))
    outputs = []
    for _ in range(reader.varint()):
        value = struct.unpack("<q", reader.take(8))[0]
        outputs.append(TxOut(value, reader.blob()))
    witnesses: list[tuple[bytes, ...]] = [() for _ in raw_inputs]
    if segwit:
        witnesses = [tuple(reader.blob() for _ in range(reader.varint())) for _ in raw_inputs]
    locktime = reader.u32()
    if reader.pos != len(data) or not raw_inputs or not outputs:
        raise ValueError("not a transaction")
    inputs = tuple(
        TxIn(prev, vout, script_sig, sequence, witness)
        for (prev, vout, script_sig, sequence), witness in zip(raw_inputs, witnesses, strict=True)
    )
    return Tx(inputs, tuple(outputs), version, locktime)


def merkle_root(hashes: list[bytes]) -> bytes:
    """Merkle root over internal-byte-order hashes (Core's CVE-2012-2459 duplication rule)."""
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def block_header(
    version: int, prev_hash: str, merkle: bytes, time: int, bits: int, nonce: int
) -> bytes:
    return (
        struct.pack("<i", version)
        + bytes.fromhex(prev_hash)[::-1]
        + merkle
        + struct.pack("<III", time, bits, nonce)
    )


def witness_commitment_script(wtxids: list[str]) -> bytes:
    """BIP141 coinbase output committing to the witness merkle root (coinbase wtxid = 0)."""
    leaves = [bytes(32)] + [bytes.fromhex(w)[::-1] for w in wtxids]
    commitment = dsha256(merkle_root(leaves) + bytes(32))
    return bytes.fromhex("6a24aa21a9ed") + commitment


def script_number(n: int) -> bytes:
    """BIP34 height push in a coinbase scriptSig."""
    if n == 0:
        return b"\x00"
    body = n.to_bytes((n.bit_length() + 8) // 8, "little")
    return bytes([len(body)]) + body


# ----------------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class ChainParams:
    name: str  # as getblockchaininfo's "chain"
    hrp: str
    p2pkh: int
    p2sh: int
    halving_interval: int


# The stand-in is a regtest node: its genesis block is regtest's, byte for byte.
REGTEST = ChainParams("regtest", "bcrt", 0x6F, 0xC4, 150)


def script_for_address(address: str, chain: ChainParams) -> bytes:
    """The scriptPubKey paying `address`; ValueError when the address is not for `chain`."""
    try:
        if address.lower().startswith(chain.hrp + "1"):
            version, program = SegwitBech32Decoder.Decode(chain.hrp, address)
            opcode = 0 if version == 0 else 0x50 + version
            return bytes([opcode, len(program)]) + bytes(program)
        payload = bytes(Base58Decoder.CheckDecode(address))
    except Exception as exc:  # bip-utils raises its own checksum errors, not ValueError
        raise ValueError(f"Invalid address: {exc}") from None
    if len(payload) == 21 and payload[0] == chain.p2pkh:
        return b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    if len(payload) == 21 and payload[0] == chain.p2sh:
        return b"\xa9\x14" + payload[1:] + b"\x87"
    raise ValueError("Invalid address")


def describe_script(script: bytes, chain: ChainParams) -> dict[str, Any]:
    """Core's scriptPubKey object: asm, desc, hex, address (when it has one), type."""
    address: str | None = None
    if len(script) in (22, 34) and script[0] == 0 and script[1] == len(script) - 2:
        kind = "witness_v0_keyhash" if len(script) == 22 else "witness_v0_scripthash"
        address = SegwitBech32Encoder.Encode(chain.hrp, 0, script[2:])
        asm = f"0 {script[2:].hex()}"
    elif len(script) == 34 and script[0] == 0x51 and script[1] == 32:
        kind = "witness_v1_taproot"
        address = SegwitBech32Encoder.Encode(chain.hrp, 1, script[2:])
        asm = f"1 {script[2:].hex()}"
    elif len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        kind = "pubkeyhash"
        address = Base58Encoder.CheckEncode(bytes([chain.p2pkh]) + script[3:23])
        asm = f"OP_DUP OP_HASH160 {script[3:23].hex()} OP_EQUALVERIFY OP_CHECKSIG"
    elif len(script) == 23 and script[:2] == b"\xa9\x14" and script[22:] == b"\x87":
        kind = "scripthash"
        address = Base58Encoder.CheckEncode(bytes([chain.p2sh]) + script[2:22])
        asm = f"OP_HASH160 {script[2:22].hex()} OP_EQUAL"
    elif script[:1] == b"\x6a":
        kind = "nulldata"
        asm = "OP_RETURN" + (f" {script[2:].hex()}" if len(script) > 2 else "")
    else:
        kind = "nonstandard"
        asm = script.hex()
    described: dict[str, Any] = {
        "asm": asm,
        "desc": descsum_create(f"addr({address})" if address else f"raw({script.hex()})"),
        "hex": script.hex(),
    }
    if address:
        described["address"] = address
    described["type"] = kind
    return described


# ----------------------------------------------------------------------------- descriptors

# BIP380 descriptor checksum (Core's src/script/descriptor.cpp DescriptorChecksum).
_INPUT_CHARSET = (
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    'ijklmnopqrstuvwxyzABCDEFGH`#"\\ '
)
_CHECKSUM_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)


def _polymod(symbols: list[int]) -> int:
    chk = 1
    for value in symbols:
        top = chk >> 35
        chk = ((chk & 0x7FFFFFFFF) << 5) ^ value
        for i, generator in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= generator
    return chk


def descriptor_checksum(descriptor: str) -> str:
    symbols: list[int] = []
    groups: list[int] = []
    for char in descriptor:
        position = _INPUT_CHARSET.find(char)
        if position < 0:
            raise ValueError(f"Invalid character in descriptor: {char!r}")
        symbols.append(position & 31)
        groups.append(position >> 5)
        if len(groups) == 3:
            symbols.append(groups[0] * 9 + groups[1] * 3 + groups[2])
            groups = []
    if len(groups) == 1:
        symbols.append(groups[0])
    elif len(groups) == 2:
        symbols.append(groups[0] * 3 + groups[1])
    checksum = _polymod(symbols + [0] * 8) ^ 1
    return "".join(_CHECKSUM_CHARSET[(checksum >> (5 * (7 - i))) & 31] for i in range(8))


def descsum_create(descriptor: str) -> str:
    return f"{descriptor}#{descriptor_checksum(descriptor)}"


# ----------------------------------------------------------------------------- JSON

_AMOUNT = re.compile(r'"\\u0000(-?\d+\.\d{8})"')


def _amount_marker(value: object) -> str:
    if isinstance(value, Decimal):
        # A string the C encoder writes as "\u0000<digits>", unwrapped to a bare number below.
        return "\x00" + format(value.quantize(Decimal("0.00000001")), "f")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(document: Any) -> str:
    """JSON with every Decimal as a bare 8-decimal number (python-bitcoinrpc reads Decimal)."""
    return _AMOUNT.sub(r"\1", json.dumps(document, default=_amount_marker))


class RawJson(str):
    """Already-encoded JSON text spliced verbatim into a larger document."""


def dumps_with(document: dict[str, Any], splice: dict[str, list[RawJson]]) -> str:
    """`dumps(document)` with the arrays under `splice` keys written from pre-encoded items."""
    text = dumps({k: v for k, v in document.items() if k not in splice})
    extra = ",".join(f"{json.dumps(key)}:[{','.join(items)}]" for key, items in splice.items())
    if not extra:
        return text
    return text[:-1] + ("," if len(text) > 2 else "") + extra + "}"
