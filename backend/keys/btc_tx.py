"""Bitcoin transaction bytes for the signer: serialisation, ids, weight, BIP-143 sighash.

Takes no keys: the signer (backend.keys.signer) signs the digests computed here.

Invariants: serialisation is Bitcoin's (BIP-144 marker and flag only when some input has a
witness), so `txid` is the double-SHA256 of the serialisation without witnesses and
`wtxid` of the full one, both printed byte-reversed as Core does; the sighash is BIP-143's
for SIGHASH_ALL, which commits to the value of the coin spent (a wrong value gives an
invalid signature, never a larger fee); `P2WPKH_INPUT_WEIGHT` is an upper bound (a 72-byte
signature), so a fee computed from an estimate never pays below the rate asked for.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property

SIGHASH_ALL = 1
# BIP-125: nSequence below 0xfffffffe signals replaceability; this value also keeps nLockTime
# enforced and relative locktime off (BIP-68 ignores sequences with bit 31 set).
SEQUENCE_RBF = 0xFFFFFFFD
VERSION = 2
# Non-witness bytes of an input (outpoint 36, empty scriptSig 1, sequence 4) count 4 weight
# units each; the witness (item count, <=72-byte DER signature + sighash byte, 33-byte key)
# counts 1 each: 41 * 4 + 1 + 1 + 72 + 1 + 33 = 272 WU = 68 vB.
P2WPKH_INPUT_WEIGHT = 272
P2WPKH_INPUT_VBYTES = P2WPKH_INPUT_WEIGHT // 4
P2WPKH_OUTPUT_VBYTES = 31  # value 8, script length 1, script 22
# Core's -dustrelayfee, sat/kvB: an output worth less than it costs to create and spend at
# this rate is dust, which nodes refuse to relay.
DUST_RELAY_FEE = 3_000


def dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


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


@dataclass(frozen=True)
class TxIn:
    txid: str  # of the transaction holding the coin, as Core prints it
    vout: int
    sequence: int = SEQUENCE_RBF
    script_sig: bytes = b""
    witness: tuple[bytes, ...] = ()

    def outpoint(self) -> bytes:
        return bytes.fromhex(self.txid)[::-1] + struct.pack("<I", self.vout)


@dataclass(frozen=True)
class TxOut:
    value: int  # satoshis
    script: bytes

    def serialize(self) -> bytes:
        return struct.pack("<q", self.value) + _push(self.script)


@dataclass(frozen=True)
class Transaction:
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    version: int = VERSION
    locktime: int = 0

    def serialize(self, *, witness: bool = True) -> bytes:
        segwit = witness and any(txin.witness for txin in self.inputs)
        parts = [struct.pack("<i", self.version)]
        if segwit:
            parts.append(b"\x00\x01")
        parts.append(varint(len(self.inputs)))
        for txin in self.inputs:
            parts += [txin.outpoint(), _push(txin.script_sig), struct.pack("<I", txin.sequence)]
        parts.append(varint(len(self.outputs)))
        parts += [out.serialize() for out in self.outputs]
        if segwit:
            for txin in self.inputs:
                parts.append(varint(len(txin.witness)))
                parts += [_push(item) for item in txin.witness]
        parts.append(struct.pack("<I", self.locktime))
        return b"".join(parts)

    @cached_property
    def txid(self) -> str:
        return dsha256(self.serialize(witness=False))[::-1].hex()

    @cached_property
    def wtxid(self) -> str:
        return dsha256(self.serialize())[::-1].hex()

    @property
    def weight(self) -> int:
        return len(self.serialize(witness=False)) * 3 + len(self.serialize())

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4

    def sighash(self, index: int, script_code: bytes, value: int) -> bytes:
        """BIP-143 digest (SIGHASH_ALL) signed by the key spending input `index` (a segwit
        v0 coin of `value` satoshis whose script code is `script_code`)."""
        hash_prevouts = dsha256(b"".join(txin.outpoint() for txin in self.inputs))
        hash_sequence = dsha256(b"".join(struct.pack("<I", i.sequence) for i in self.inputs))
        hash_outputs = dsha256(b"".join(out.serialize() for out in self.outputs))
        spent = self.inputs[index]
        preimage = b"".join(
            [
                struct.pack("<i", self.version),
                hash_prevouts,
                hash_sequence,
                spent.outpoint(),
                _push(script_code),
                struct.pack("<q", value),
                struct.pack("<I", spent.sequence),
                hash_outputs,
                struct.pack("<I", self.locktime),
                struct.pack("<I", SIGHASH_ALL),
            ]
        )
        return dsha256(preimage)


def p2wpkh_script(pubkey: bytes) -> bytes:
    """The scriptPubKey of a compressed key's native segwit address: OP_0 <hash160>."""
    return b"\x00\x14" + hash160(pubkey)


def p2wpkh_script_code(pubkey: bytes) -> bytes:
    """BIP-143's scriptCode for a P2WPKH spend: the P2PKH script of the same key hash."""
    return b"\x76\xa9\x14" + hash160(pubkey) + b"\x88\xac"


def _is_witness_program(script: bytes) -> bool:
    return (
        4 <= len(script) <= 42
        and (script[0] == 0 or 0x51 <= script[0] <= 0x60)
        and script[1] == len(script) - 2
    )


def dust_threshold(script: bytes) -> int:
    """Core's GetDustThreshold: the least an output paying `script` may carry and relay."""
    # Bytes to spend it later: a witness input's 67 (41 + 107 / 4 witness), a legacy one's 148.
    spend = 67 if _is_witness_program(script) else 148
    return (8 + len(_push(script)) + spend) * DUST_RELAY_FEE // 1000


def estimate_vsize(p2wpkh_inputs: int, output_scripts: list[bytes]) -> int:
    """Virtual size of a transaction spending that many P2WPKH coins to those scripts, once
    signed; never below the real size (signatures are counted at their longest)."""
    outputs = b"".join(TxOut(0, script).serialize() for script in output_scripts)
    base = 4 + len(varint(p2wpkh_inputs)) + len(varint(len(output_scripts))) + len(outputs) + 4
    weight = base * 4 + 2 + p2wpkh_inputs * P2WPKH_INPUT_WEIGHT  # 2: segwit marker and flag
    return (weight + 3) // 4
