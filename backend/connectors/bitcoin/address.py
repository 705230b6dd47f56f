"""Bitcoin address checks per network: what a withdrawal may pay, in its canonical form.

Invariants: an accepted address belongs to the configured network (bech32 HRP or base58
version byte), carries a valid checksum (bech32 for witness v0, bech32m for v1 per BIP350,
double-SHA256 for base58) and is a standard output type a node relays: P2WPKH, P2WSH,
P2TR, P2PKH or P2SH. Future witness versions are refused: coins sent there are not safe.
"""

from __future__ import annotations

from bip_utils import Base58Decoder, SegwitBech32Decoder

from backend.connectors.chain import InvalidAddress
from backend.settings import BitcoinNetwork

HRP = {BitcoinNetwork.mainnet: "bc", BitcoinNetwork.testnet: "tb", BitcoinNetwork.regtest: "bcrt"}
# (P2PKH, P2SH) version bytes; testnet, signet and regtest share them.
BASE58_VERSIONS = {
    BitcoinNetwork.mainnet: (0x00, 0x05),
    BitcoinNetwork.testnet: (0x6F, 0xC4),
    BitcoinNetwork.regtest: (0x6F, 0xC4),
}
_WITNESS_PROGRAM_SIZES = {0: (20, 32), 1: (32,)}


def _network_of(address: str) -> BitcoinNetwork | None:
    lowered = address.lower()
    # "bcrt1" first: it also starts with "bc".
    for network in (BitcoinNetwork.regtest, BitcoinNetwork.mainnet, BitcoinNetwork.testnet):
        if lowered.startswith(HRP[network] + "1"):
            return network
    return None


def _refuse(reason: str) -> InvalidAddress:
    return InvalidAddress(f"This is not a valid Bitcoin address: {reason}.", param="address")


def validate_address(address: str, network: BitcoinNetwork) -> str:
    """`address` in canonical form (bech32 lower-cased), or InvalidAddress saying why."""
    return _checked(address, network)[0]


def output_script(address: str, network: BitcoinNetwork) -> bytes:
    """The scriptPubKey paying `address` (checked as `validate_address` does)."""
    return _checked(address, network)[1]


def _checked(address: str, network: BitcoinNetwork) -> tuple[str, bytes]:
    """(canonical address, its scriptPubKey), decoded once: scanning converts every watched
    address, 100,000 of them on a busy deployment."""
    candidate = address.strip()
    if not candidate or len(candidate) > 90:
        raise _refuse("wrong length")
    segwit_network = _network_of(candidate)
    if segwit_network is not None:
        if segwit_network is not network:
            raise _refuse(f"it is a {segwit_network} address and this is {network}")
        return _checked_segwit(candidate, HRP[network])
    try:
        payload = bytes(Base58Decoder.CheckDecode(candidate))
    except Exception:  # bip-utils raises its own error types for bad characters and checksums
        raise _refuse("bad characters or checksum") from None
    if len(payload) != 21:
        raise _refuse("wrong length")
    p2pkh, p2sh = BASE58_VERSIONS[network]
    if payload[0] == p2pkh:  # DUP HASH160 <h> EQUALVERIFY CHECKSIG
        return candidate, b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    if payload[0] == p2sh:  # HASH160 <h> EQUAL
        return candidate, b"\xa9\x14" + payload[1:] + b"\x87"
    others = [n for n, versions in BASE58_VERSIONS.items() if payload[0] in versions]
    if others:
        raise _refuse(f"it is a {others[0]} address and this is {network}")
    raise _refuse("unknown address type")


def _checked_segwit(address: str, hrp: str) -> tuple[str, bytes]:
    try:
        version, program = SegwitBech32Decoder.Decode(hrp, address)
    except Exception:  # checksum, mixed case, bech32 vs bech32m, padding: all bip-utils errors
        raise _refuse("bad checksum or encoding") from None
    if len(program) not in _WITNESS_PROGRAM_SIZES.get(version, ()):
        raise _refuse(f"witness version {version} with a {len(program)}-byte program")
    opcode = 0x50 + version if version else 0  # OP_0, or OP_1..OP_16
    return address.lower(), bytes([opcode, len(program)]) + bytes(program)
